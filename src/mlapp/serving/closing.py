"""How a connection of the workers' HTTP protocol ends (``header_deadline.HeaderDeadline`` reads
the requests' heads; this is its base class).

A connection closed while its client may still be sending its request is closed gracefully
(``linger.py``): the answer, end of output, then what the client still sends is dropped.

A client may half-close once its request is sent (``shutdown(SHUT_WR)``, ``nc -N``): the
connection stays open for the answer and is closed once it is sent (``eof_received``).

A refusal (``refuse``: a JSON answer, the connection closed, the refusal counted) behind
pipelined requests waits for their answers: written at once, it was read as the first
request's answer, and the others were never answered.

When the worker stops (``shutdown``), a kept-alive connection that is idle stays open for
``STOP_GRACE_S``: a request that comes on it meanwhile is answered, with ``Connection: close``,
and the connection closed after it; one that stays idle is closed then. uvicorn closed idle
connections at once, with whatever they had sent unread: a request sent as the stop began (in
the socket's buffer while the worker's loop was busy) was reset (the kernel resets a connection
closed with unread input). A request under way when the stop begins is answered with
``Connection: close``, as uvicorn does.

A request answered before its body has all arrived (``on_response_complete``: a 429 of
``serving.max_concurrency`` or of the body budget, a 404, 405, 415 or 401) keeps its connection
while the rest, dropped as it comes, arrives within ``linger_s``; later, or declared longer than
``linger_bytes``, or chunked, the connection ends the graceful way. uvicorn kept it with no
deadline (a client sending a byte a second held it for ever); closing it at once made every 429
of a flood a reconnection through the traffic port's listen queue, which ``/readyz`` reads: the
probe port said 503 to 20 of 21 probes under a flood (docs/serving.md, "Health probes under overload").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, cast

from mlapp.serving import responses
from mlapp.serving.admission import SERVER_REFUSED
from mlapp.serving.linger import Lingering
from mlapp.serving.unread import UnreadDeadline

Count = Callable[[int, set[tuple[str, str]]], None]
# How long an idle connection is kept once its worker stops: longer than a busy worker's loop pass
# (0.3-0.6 s under a flood, docs/serving.md), short enough not to hold up a stop for long.
STOP_GRACE_S = 1.0


@dataclass(frozen=True)
class Deadline:
    """The protocol's settings (``header_deadline.install``)."""

    timeout_s: float  # ``serving.header_timeout_s``
    max_bytes: int  # ``serving.max_header_bytes``: request line + headers of one request
    count: Count  # the refusal counter (``telemetry.count_refusal``)
    outer: Callable[[Any, Count], Any]  # wraps the worker's whole ASGI app (``paths.KnownPaths``)
    linger_s: float  # serving.body_timeout_s: a closing connection's input dropped; answers left unread
    linger_bytes: int  # ``serving.max_body_bytes_in_flight``: the most of it read and dropped


class Closing(UnreadDeadline):
    settings: ClassVar[Deadline]  # set by ``header_deadline.install``, before uvicorn can pick the protocol
    body_left: int | None  # of the request's body still to come; None: chunked (kept by the subclass)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.wire = Lingering(transport, self.close)
        self.linger_timer: asyncio.TimerHandle | None = None
        super().connection_made(self.wire)  # type: ignore[arg-type]
        # The next bytes are a request's head; ``overhead`` counts its bytes that are not body (request
        # line, headers, chunk framing, trailers): the subclass keeps both as it parses.
        self.in_head, self.overhead = True, 0
        self.client_done = False  # the client half-closed: it sends nothing more
        self.deferred: tuple[HTTPStatus, str, str, str, bool] | None = None  # ``refuse``'s, for later
        self.stopping = False  # the worker stops: the next request is this connection's last
        self.stop_timer: asyncio.TimerHandle | None = None
        self.rest_timer: asyncio.TimerHandle | None = None  # the rest of an answered request's body

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio.Protocol: bool | None
        """A client may half-close once its request is sent (``shutdown(SHUT_WR)``, ``nc -N``):
        keep the connection open for the answer, closed once it is sent. uvicorn closed it at
        once, so such a client never got its answer, though its request was served (a 400 was
        counted and logged). A request still arriving can get no more bytes: closed as before
        (a body cut short is a 499, ``endpoint.py``)."""
        self.client_done = True
        if self.wire.lingering:  # all it sent is read, our answer and end of output sent: done
            return False
        cycle = self.cycle
        return (
            cycle is not None and not cycle.more_body and (not cycle.response_complete or bool(self.pipeline))
        )

    def on_response_complete(self) -> None:
        # Answered before its body arrived: uvicorn drops the rest as it comes (module docstring).
        unfinished = not self.pipeline and self.cycle is not None and self.cycle.more_body
        super().on_response_complete()
        if unfinished and not self.transport.is_closing():
            if self.body_left is None or self.body_left > self.settings.linger_bytes:
                self.close()
                return
            self.rest_timer = self.loop.call_later(self.settings.linger_s, self.close)
        if self.deferred is not None and self.cycle.response_complete:  # the requests before it answered
            refusal, self.deferred = self.deferred, None
            self.refuse(*refusal)
        # The last request it sent is answered (none is left in uvicorn's pipeline): close.
        if self.client_done and self.cycle.response_complete and not self.transport.is_closing():
            self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.rest_timer is not None:  # the rest of an answered body came in time: the connection stays
            self.rest_timer.cancel()
            self.rest_timer = None
            # uvicorn leaves ``more_body`` set on a request answered before its end: the client sends
            # no more of it, so a later close (the idle timer) is a plain one, not a linger.
            self.cycle.more_body = False
            if self.timeout_keep_alive_task is None:  # the body's bytes stopped uvicorn's idle timer
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def data_received(self, data: bytes) -> None:
        if self.deferred is not None:  # refused: the requests before it are being answered
            return
        if self.wire.lingering:  # answered and closing: what the client still sends is dropped
            self.dropped += len(data)
            if self.dropped > self.settings.linger_bytes:
                self.wire.socket.close()
            return
        self.read(data)

    def read(self, data: bytes) -> None:
        """What the client sent, to parse (``header_deadline.HeaderDeadline``)."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """The worker stops (uvicorn, for each connection): the request under way, or the next one
        within ``STOP_GRACE_S`` on an idle connection, is its last (module docstring)."""
        self.stopping = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif not (self.in_head and self.overhead > 0):  # idle: no request's head arriving either
            self.stop_timer = self.loop.call_later(STOP_GRACE_S, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.stop_timer is not None:  # a request came within the grace: answered, then closed
            self.stop_timer.cancel()
            self.stop_timer = None

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.stopping and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with ``Connection: close``, then closed

    def connection_lost(self, exc: Exception | None) -> None:
        if self.linger_timer is not None:
            self.linger_timer.cancel()
        for timer in (self.stop_timer, self.rest_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)
        # This protocol and its transport's stand-in refer to each other: a reference cycle, freed
        # only by a rare full garbage collection with the request it holds (a refused flood of
        # 2 MB bodies grew a worker by ~12 KB a connection). Broken here.
        self.wire.close = self.wire.socket.close

    def close(self) -> None:
        """Close the connection; lingering (module docstring) if its client may still be sending:
        a request's head or body not all read, and no end of input from it yet."""
        socket = self.wire.socket
        if self.wire.lingering or socket.is_closing():
            return
        sending = (self.cycle is not None and self.cycle.more_body) or (self.in_head and self.overhead > 0)
        if not sending or self.client_done or not socket.can_write_eof():
            socket.close()
            return
        self.wire.lingering, self.dropped = True, 0
        self.disarm()
        if self.cycle is not None and not self.cycle.response_complete:  # as connection_lost would
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        socket.write_eof()  # after the answer already written
        self.pipeline.clear()  # never run on a closing connection; queued, they held reading paused
        self.backlog.clear()  # nor parsed
        self.flow.resume_reading()  # uvicorn pauses reading while a body waits for the app
        self.linger_timer = self.loop.call_later(self.settings.linger_s, socket.close)

    def disarm(self) -> None:
        """No more of a request's head is awaited (``header_deadline.HeaderDeadline`` stops its timer)."""

    def refuse(self, status: HTTPStatus, message: str, field: str, rule: str, linger: bool = True) -> None:
        """Answer ``status`` with a JSON message, close the connection (lingering, unless told not
        to), count the refusal. A request already answered (a 401 goes out before its body is read)
        gets no second answer; one pipelined behind others waits for their answers (it was the
        first answer read, theirs never sent)."""
        if self.in_head and self.cycle is not None and not self.cycle.response_complete:
            self.deferred = self.deferred or (status, message, field, rule, linger)  # the first one
            self.disarm()
            return
        if self.in_head or self.cycle is None or not self.cycle.response_started:
            body = responses.error(message)
            head = (
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n"
                % (status, status.phrase.encode(), len(body))
            )
            self.transport.write(head + body)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # the request in flight ends here too
            cast(dict[str, Any], cycle.scope)[SERVER_REFUSED] = int(status)
        if linger:
            self.close()
        else:
            self.wire.socket.close()
        self.settings.count(status, {(field, rule)})
