"""The kubelet's health probes on a port of their own (``serving.probe_port``), answered by a thread.

Why not the traffic port: a probe connects like any client, and under a flood of connections
it waits in the kernel's listen queue behind them. uvloop (which uvicorn picks) accepts one
connection per pass of the worker's event loop, and a pass under load lasts 0.2-0.6 s, so a
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
  the stamp is older than ``serving.probe_ready_s``, or once more than
  ``serving.probe_ready_backlog`` connections have waited in the traffic port's listen queue at
  every look for ``serving.probe_ready_backlog_s`` and, draining as it did over that time, the
  queue would not be back to the bound within as long again (``Backlog``); 200 otherwise.

Why a backlog must last and not be draining before it counts: a worker accepts one connection
per pass of its loop (libuv, under uvloop, accepts one per readiness event since 1.45, by design;
asyncio's loop takes the whole queue at once: joining connections are answered sooner, with
429s, and fewer requests are served; docs/serving.md, "Accepting connections"). A flood's
opening burst (600 connections at once) left 60-290 queued, drained at 10-15 a second, and one
look said 503 for 4-5 s of most such floods while the pod kept accepting (benchmarks/probes.py). A pod that
leaves the Service under a flood hands its share to the others, and when every pod does, nothing
is served. A queue that stays over the bound, or drains so slowly that a new connection would
wait longer than ``serving.probe_ready_backlog_s`` to be accepted (accept stopped, or clients
arriving about as fast as they are accepted), still sheds. A wedged loop is the heartbeat's to
tell, at once.

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
from collections import deque
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
    """The event loop's last sign of life, stamped by a timer on the loop, read from any thread.
    ``on_beat`` runs with each beat: the loop's own look at its listen queue (``Backlog.look``)."""

    def __init__(self, on_beat: Callable[[], object] | None = None) -> None:
        self.last: float | None = None  # time.monotonic() of the last beat; None: not started
        self.ready = False  # the service instance is started and not stopping
        self.timer: asyncio.TimerHandle | None = None
        self.on_beat = on_beat

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beat(loop)

    def beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()
        if self.on_beat is not None:
            self.on_beat()
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
class Look:
    waiting: int | None  # connections waiting to be accepted now; None: unknown
    over_s: float  # seconds they have been over the bound at every look; 0: not over it now
    drained: int | None  # how many fewer wait now than ``window_s`` ago; None: not over it that long


class Backlog:
    """The traffic port's listen queue over ``limit``: since when, and how much it drained over the
    last ``window_s``. The loop looks with each beat (every ``BEAT_S``, or each pass when passes
    are longer) and each ``/readyz`` looks too, so a queue that fell to the bound between two
    probes is seen."""

    KEPT = 64  # looks kept over a window at most: one per window_s / KEPT

    def __init__(
        self,
        waiting: Callable[[], int | None],  # ListenQueue.waiting
        limit: int,  # serving.probe_ready_backlog
        window_s: float,  # serving.probe_ready_backlog_s
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.waiting, self.limit, self.window_s, self.clock = waiting, limit, window_s, clock
        self.over_since: float | None = None  # clock() of the first look over the bound in a row
        self.looks: deque[tuple[float, int]] = deque()  # (clock(), waiting) over it; [0]: window_s ago
        self.lock = threading.Lock()  # the loop's thread and the probes' thread both look

    def look(self) -> Look:
        with self.lock:
            waiting, now = self.waiting(), self.clock()
            if waiting is None or waiting <= self.limit:
                self.over_since = None
                self.looks.clear()
                return Look(waiting, 0.0, None)
            if self.over_since is None:
                self.over_since = now
            if not self.looks or now - self.looks[-1][0] >= self.window_s / self.KEPT:
                self.looks.append((now, waiting))
            while len(self.looks) > 1 and self.looks[1][0] <= now - self.window_s:
                self.looks.popleft()  # [0] stays the last look at least window_s old
            over_s = now - self.over_since
            return Look(waiting, over_s, self.looks[0][1] - waiting if over_s >= self.window_s else None)

    def stuck(self, look: Look) -> bool:
        """Over the bound at every look for ``window_s``, and, draining as it did over that time, not
        back to the bound within as long again: a new connection would wait longer than that."""
        return (
            look.waiting is not None and look.drained is not None and look.drained < look.waiting - self.limit
        )


@dataclass(frozen=True)
class Checks:
    heartbeat: Heartbeat
    live_s: float  # serving.probe_live_s
    ready_s: float  # serving.probe_ready_s
    backlog: Backlog  # connections waiting on the traffic port (serving.probe_ready_backlog, _s)

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
        look, backlog = self.backlog.look(), self.backlog
        if backlog.stuck(look):
            return 503, (
                f"overloaded: {look.waiting} connections wait to be accepted on the traffic port, more than "
                f"{backlog.limit} for {look.over_s:.1f} s, {look.drained} fewer than {backlog.window_s:g} s "
                f"ago: not back to {backlog.limit} within {backlog.window_s:g} s more at that rate "
                f"(serving.probe_ready_backlog: {backlog.limit}, serving.probe_ready_backlog_s: "
                f"{backlog.window_s:g})"
            )
        return 200, "ready"

    def route(self, path: str) -> Callable[[], tuple[int, str]] | None:
        return {"/livez": self.livez, "/readyz": self.readyz}.get(path.split("?", 1)[0])


class Probes:
    """A worker's probe listener and its loop's heartbeat."""

    def __init__(self, host: str, port: int, traffic: ListenQueue, serving: ServingParams) -> None:
        backlog = Backlog(traffic.waiting, serving.probe_ready_backlog, serving.probe_ready_backlog_s)
        self.heartbeat = Heartbeat(on_beat=backlog.look)
        self.traffic = traffic
        checks = Checks(self.heartbeat, serving.probe_live_s, serving.probe_ready_s, backlog)
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
