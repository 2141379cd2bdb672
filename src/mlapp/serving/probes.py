"""The kubelet's health probes on a port of their own (``serving.probe_port``), answered by a thread.

Why not the traffic port: a probe connects like any client, and under a flood of connections
it waits in the kernel's listen queue behind them. uvloop (which uvicorn picks) accepts one
connection per pass of the worker's event loop, and a pass under load lasts 0.3-0.6 s, so a
probe that connected while a flood's connections were arriving waited as long as the flood
(docs/serving.md, "Health probes under overload"; benchmarks/accept.py, benchmarks/probes.py).

Here each worker runs, on a thread of its own, a small HTTP listener (``probe_listener.py``:
one thread and one selector for all its connections, each with a read deadline, at most
``serving.probe_max_connections`` of them, a new one closing the oldest) that listens on
``serving.probe_port`` with ``SO_REUSEPORT``: every worker binds the port and the kernel
spreads the probes' connections over them. The only connections on that port are probes, so
none waits behind the traffic port's flood, and a flood on the probe port itself costs no
thread per connection and keeps no new probe out. What the thread answers
comes from the worker's event loop, so the answers still tell the truth about it:

- a ``Heartbeat`` timer on the loop stamps the time every ``BEAT_S``; when a pass of the loop
  takes long, the stamp ages: its age is how long the loop has not run;
- ``/livez``: 503 once the stamp is older than ``serving.probe_live_s`` (a wedged loop: a
  blocking call, a step that never yields), 200 before;
- ``/readyz``: 503 before the service instance is started (model loaded) and once told to stop (SIGTERM);
  and, overloaded (the pod sheds, as a probe on the traffic port timing out made it do), while
  the stamp is older than ``serving.probe_ready_s`` or while more than
  ``serving.probe_ready_backlog`` connections wait in the traffic port's listen queue (new
  clients wait there for seconds under a flood: one is accepted per pass); 200 otherwise.

The traffic port keeps its own ``/livez`` and ``/readyz`` (smoke tests, ``make image``, docs).
The listener runs only in a server started by ``supervise.py``, which names the host to bind
in ``PROBE_HOST_ENV``, the port in ``PROBE_PORT_ENV`` and the traffic port in ``TRAFFIC_PORT_ENV``.
``SO_REUSEPORT`` lets another server of the same user on the same machine bind the same probe
port too (then either answers): give each its own (``serving.probe_port``, or ``mlapp serving
serve --probe-port``; ``make run``'s server takes a free one; in a pod, the port is the pod's alone).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psutil

from mlapp.params import ServingParams
from mlapp.serving import PROBE_HOST_ENV, PROBE_PORT_ENV, TRAFFIC_PORT_ENV, drain
from mlapp.serving.probe_listener import Limits, Listener

logger = logging.getLogger(__name__)
BEAT_S = 0.05  # a timer this often costs microseconds, and is well below any sensible probe_ready_s
STOP_S = 5.0  # the listener's thread returns within a pass of its loop: microseconds, unless a check hangs
# Linux's ``struct tcp_info``: 8 one-byte fields, then rto, ato, snd_mss, rcv_mss, unacked; for a
# listening socket ``tcpi_unacked`` is the number of connections waiting to be accepted.
TCPI_UNACKED = struct.Struct("=I"), 24


class Heartbeat:
    """The event loop's last sign of life, stamped by a timer on the loop, read from any thread."""

    def __init__(self) -> None:
        self.last: float | None = None  # time.monotonic() of the last beat; None: not started
        self.ready = False  # the service instance is started and not stopping
        self.timer: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beat(loop)

    def beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()
        self.timer = loop.call_later(BEAT_S, self.beat, loop)

    def stop(self) -> None:
        self.ready = False
        if self.timer is not None:
            self.timer.cancel()

    def age(self) -> float:
        """Seconds since the loop last ran the timer (infinite before it started)."""
        return math.inf if self.last is None else time.monotonic() - self.last


class ListenQueue:
    """The accept queue of the traffic port's listening socket (shared by the workers), read
    without touching it: ``TCP_INFO`` on a duplicate of its descriptor."""

    def __init__(self, port: int) -> None:
        found = [
            c.fd
            for c in psutil.Process().net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.fd >= 0
        ]
        self.sock = socket.socket(fileno=os.dup(found[0])) if found else None
        if not found:
            logger.warning("no listening socket on port %d here: /readyz cannot see its listen queue", port)

    def waiting(self) -> int | None:
        """Connections waiting to be accepted; None without the socket (closed: the worker is
        stopping) or ``TCP_INFO`` (not Linux)."""
        sock = self.sock  # closed by the event loop's thread while the probes' thread asks
        if sock is None or not hasattr(socket, "TCP_INFO"):
            return None
        layout, offset = TCPI_UNACKED
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, offset + layout.size)
        except OSError:
            return None
        return int(layout.unpack_from(info, offset)[0])

    def close(self) -> None:
        """Let go of the duplicate: while any process holds one, the port takes new connections."""
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


@dataclass(frozen=True)
class Checks:
    heartbeat: Heartbeat
    live_s: float  # serving.probe_live_s
    ready_s: float  # serving.probe_ready_s
    backlog: Callable[[], int | None]  # connections waiting on the traffic port (ListenQueue.waiting)
    max_backlog: int  # serving.probe_ready_backlog

    def livez(self) -> tuple[int, str]:
        age = self.heartbeat.age()
        if age > self.live_s:
            return 503, f"event loop has not run for {age:.1f} s (serving.probe_live_s: {self.live_s:g})"
        return 200, "live"

    def readyz(self) -> tuple[int, str]:
        if not self.heartbeat.ready:
            return 503, "not ready: the service is starting or stopping"
        age = self.heartbeat.age()
        if age > self.ready_s:
            return 503, f"overloaded: event loop lags {age:.1f} s (serving.probe_ready_s: {self.ready_s:g})"
        waiting = self.backlog()
        if waiting is not None and waiting > self.max_backlog:
            return 503, (
                f"overloaded: {waiting} connections wait to be accepted on the traffic port "
                f"(serving.probe_ready_backlog: {self.max_backlog})"
            )
        return 200, "ready"

    def route(self, path: str) -> Callable[[], tuple[int, str]] | None:
        return {"/livez": self.livez, "/readyz": self.readyz}.get(path.split("?", 1)[0])


class Probes:
    """A worker's probe listener and its loop's heartbeat."""

    def __init__(self, host: str, port: int, traffic: ListenQueue, serving: ServingParams) -> None:
        self.heartbeat = Heartbeat()
        self.traffic = traffic
        checks = Checks(
            self.heartbeat,
            serving.probe_live_s,
            serving.probe_ready_s,
            traffic.waiting,
            serving.probe_ready_backlog,
        )
        limits = Limits(serving.header_timeout_s, serving.max_header_bytes, serving.probe_max_connections)
        self.listener = Listener((host, port), checks.route, limits)
        # A daemon thread: a stuck probe connection never holds up the worker's exit.
        self.thread = threading.Thread(target=self.listener.serve, name="mlapp-probes", daemon=True)

    @property
    def port(self) -> int:
        return self.listener.port

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Beat on ``loop`` and answer probes; ready from now on (call once the service is started),
        until the worker is told to stop (``draining``)."""
        self.heartbeat.start(loop)
        self.heartbeat.ready = True
        self.thread.start()
        if threading.current_thread() is threading.main_thread():  # a worker (not an in-process test)
            drain.after_stop_signal(self.draining)

    def draining(self) -> None:
        """The worker's stop has begun (SIGTERM): not ready, and the traffic port no longer held
        open here while the requests in flight finish (drain.py)."""
        self.heartbeat.ready = False
        self.traffic.close()

    def stop(self) -> None:
        self.heartbeat.stop()
        if self.thread.is_alive():
            self.listener.stop()
            self.thread.join(STOP_S)
        self.listener.close()
        self.traffic.close()


def open_probes(environ: Mapping[str, str], serving: ServingParams) -> Probes | None:
    """The listener on the port ``supervise.py`` names (``serving.probe_port`` or its
    ``--probe-port``); None without the environment it sets or when the port cannot be bound
    (logged: the traffic port still serves, the probes fail)."""
    host, port, traffic_port = (
        environ.get(name) for name in (PROBE_HOST_ENV, PROBE_PORT_ENV, TRAFFIC_PORT_ENV)
    )
    if not host or not port or not traffic_port:
        return None
    try:
        return Probes(host, int(port), ListenQueue(int(traffic_port)), serving)
    except OSError as exc:
        logger.error("no health probes on %s:%s (serving.probe_port): %s", host, port, exc)
        return None
