"""On SIGTERM (or SIGINT, or SIGHUP: ``stop_on_hangup``) the traffic port refuses new connections
while the workers drain.

BentoML's arbiter (circus, on a thread of the server process) holds the traffic port's
listening socket, and each worker a copy. On SIGTERM each worker stops accepting and finishes
the requests it has in flight, but the arbiter closed its copy only once the last worker had
exited: until then the kernel kept completing new connections into the listen queue (2,048
deep), which no process would accept, and reset every one of them when the server exited.
`make serve` with 16 clients sending 1,000-row requests on keep-alive connections, SIGTERM:
each client that reconnected after an answer saying ``Connection: close`` connected, sent its
request and was reset when the server exited, 14 of 14; a request in flight for seconds kept
them waiting for seconds. Closed here as soon as the stop has begun, the socket is closed once
every worker has closed its copies: uvicorn's as its stop begins, and the duplicate the probe
listener reads the listen queue from (``probes.ListenQueue``), which it held until the worker
had drained, closed then too (``Probes.draining``, which also makes ``/readyz`` 503 from then
on). A new connection is refused at once (a client or a load balancer can try another server)
while the requests in flight finish (tests/serving/test_resilience.py): from the signal on, since
the server process shuts the listening socket down in its signal handler (``stop_listening``).
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable
from typing import Any

RETRY_S = 0.1  # the arbiter has not begun its stop yet: look again


def after_stop_signal(callback: Callable[[], None]) -> None:
    """Run ``callback`` after this process's own SIGTERM and SIGINT handlers (circus's in the server
    process, uvicorn's in a worker). Main thread only, as ``signal.signal``."""

    def chain(previous: Any) -> Any:
        def handler(signum: int, frame: Any) -> None:
            if callable(previous):
                previous(signum, frame)
            callback()

        return handler

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, chain(signal.getsignal(signum)))


def refuse_new_connections_on_stop(arbiter: Any) -> None:
    """After the arbiter's own stop signal handlers: stop listening at once (``stop_listening``),
    and close its listening sockets on its loop."""

    def close() -> None:
        # Only once the arbiter is stopping: before, a replaced worker would be started without them.
        if not getattr(arbiter, "_stopping", False):
            arbiter.loop.call_later(RETRY_S, close)
            return
        for sock in arbiter.sockets.values():
            sock.close()

    def on_signal() -> None:
        stop_listening(list(arbiter.sockets.values()))
        loop = arbiter.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping already
                loop.add_callback(close)

    after_stop_signal(on_signal)


def stop_listening(sockets: list[socket.socket]) -> None:
    """Refuse new connections from now on, in every process holding these listening sockets (the
    workers' copies too), before any worker is told to stop. The close above came later (up to
    ``RETRY_S``, the arbiter busy starting its stop), and each worker stops accepting as its stop
    begins: a client answered ``Connection: close`` by a stopping worker reconnected, was taken
    into the listen queue while another worker's copy stayed open, and was reset when the last
    copy closed (13 and 16 of 16 keep-alive clients in 2 of 3 runs). A connection queued as the
    stop begins is reset here (the kernel's way of ending a listen queue), not served."""
    for sock in sockets:
        with contextlib.suppress(OSError):  # not a listening socket
            sock.shutdown(socket.SHUT_RD)  # Linux: a listening socket stops listening


def stop_on_hangup() -> None:
    """SIGHUP stops this server as SIGTERM does (its handlers, circus's and ``after_stop_signal``'s).
    Closing the terminal that runs ``make serve`` sends it; circus took it as "reload": it restarted
    the workers (forks of this process: the same code, model and settings) and the server went on
    serving with no terminal, holding the port. Main thread only, after the SIGTERM handlers."""

    def hangup(_signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signal.SIGTERM, frame)  # circus reads the signal's number: stop, not reload

    signal.signal(signal.SIGHUP, hangup)
