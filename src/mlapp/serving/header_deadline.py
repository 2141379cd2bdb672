"""A read deadline and a size cap for request headers, in the HTTP server the workers run
(uvicorn + httptools).

The ASGI app sees a request only once its headers are complete, so ``admission.py`` cannot
bound how long a client takes to send them, and uvicorn has no such setting: its keep-alive
timer is cancelled by any byte received, so a client that sends one header byte at a time
holds its connection for ever. ``HeaderDeadline`` is uvicorn's httptools protocol with one
timer per request: armed when the connection opens (or the next request on it begins),
cancelled when the headers are complete. When it fires, a client that started a request is
answered 408 and the connection is closed; one that sent nothing is closed (as an idle
keep-alive connection is). Either way it is counted (``mlapp_rejections_total``,
``field="headers"``, ``rule="header_timeout"``), not logged.

uvicorn has no size limit for headers either (httptools buffers a header line whole): one
client sending 100 MB of header within the deadline grew the worker by 100 MB, and 100 MB of
trailers after a chunked body by 67 MB. The bytes of a request that are not its body (request
line, headers, chunk framing, trailers) over ``serving.max_header_bytes`` are answered 431
and the connection is closed (``rule="header_too_large"``): a head is cut before more is
buffered, the rest after the read that passed the cap. And a request the parser
refuses (two Content-Length headers, a negative one, a control character in a header, TLS
or HTTP/2 sent to this HTTP/1.1 port) is a JSON 400 naming the parser's reason, counted
(``field="request"``, ``rule="malformed_http"``) instead of uvicorn's "Invalid HTTP request
received." and a WARNING line per request.

It also serves the worker's ASGI app wrapped in ``paths.KnownPaths`` (a 404 for any path but
the service's), the only place outside BentoML's own request metrics, and serves an
``Upgrade: websocket`` request as plain HTTP through it (the service has no WebSocket route;
uvicorn's WebSocket protocol would have served the bare app, and any other ``Upgrade`` was a
WARNING line per request). httptools reads no body after an ``Upgrade`` head: ``POST /predict``
with ``Upgrade: h2c`` (``curl --http2``) reached the endpoint empty, and a request pipelined
behind a bodiless one was dropped. Now the first is a 400 (``rule="upgrade_with_body"``), and
the rest of the read after the second is parsed.

A connection closed while its client may still be sending its request is closed gracefully
(``linger.py``): the answer, end of output, then what the client still sends is dropped.

``install`` makes it uvicorn's ``auto`` protocol, the one BentoML's workers ask for, so it is
in place whether the worker is a fork of the server process or a new interpreter importing
the service. It is called when the service module is imported, before the worker builds its
uvicorn configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, cast

import httptools
import uvicorn.config

from mlapp.params import ServingParams
from mlapp.serving import responses
from mlapp.serving.admission import SERVER_REFUSED
from mlapp.serving.linger import Lingering
from mlapp.serving.unread import UnreadDeadline

Count = Callable[[int, set[tuple[str, str]]], None]


@dataclass(frozen=True)
class Deadline:
    timeout_s: float  # ``serving.header_timeout_s``
    max_bytes: int  # ``serving.max_header_bytes``: request line + headers of one request
    count: Count  # the refusal counter (``telemetry.count_refusal``)
    outer: Callable[[Any, Count], Any]  # wraps the worker's whole ASGI app (``paths.KnownPaths``)
    linger_s: float  # serving.body_timeout_s: a closing connection's input dropped; answers left unread
    linger_bytes: int  # ``serving.max_body_bytes_in_flight``: the most of it read and dropped


class HeaderDeadline(UnreadDeadline):
    settings: ClassVar[Deadline]  # set by ``install``, before uvicorn can pick this class

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unread_timeout_s = self.settings.linger_s  # answers unread: unread.py
        self.count_unread = lambda: self.settings.count(408, {("response", "not_read")})
        # Outside every middleware BentoML adds (its request metrics among them), per connection.
        self.app = self.settings.outer(self.app, self.settings.count)
        # No WebSocket route: an Upgrade request is served as plain HTTP, through ``self.app``
        # (uvicorn's WebSocket protocol would serve the bare app, unknown paths included).
        self.ws_protocol_class = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.wire = Lingering(transport, self.close)
        self.linger_timer: asyncio.TimerHandle | None = None
        super().connection_made(self.wire)  # type: ignore[arg-type]
        self.started = False
        self.deadline: asyncio.TimerHandle | None = None
        # The next bytes are a request's head; ``overhead`` counts its bytes that are not body (request
        # line, headers, chunk framing, trailers): ``on_body`` takes the body's bytes off again.
        self.in_head, self.overhead = True, 0
        self.client_done = False  # the client half-closed: it sends nothing more
        self.upgrade_refused = False  # an Upgrade request with a body: answered 400, closing
        self.deferred: tuple[HTTPStatus, str, str, str, bool] | None = None  # ``refuse``'s, for later
        self.arm()

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
        super().on_response_complete()
        if self.deferred is not None and self.cycle.response_complete:  # the requests before it answered
            refusal, self.deferred = self.deferred, None
            self.refuse(*refusal)
        # The last request it sent is answered (none is left in uvicorn's pipeline): close.
        if self.client_done and self.cycle.response_complete and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.deferred is not None:  # refused: the requests before it are being answered
            return
        if self.wire.lingering:  # answered and closing: what the client still sends is dropped
            self.dropped += len(data)
            if self.dropped > self.settings.linger_bytes:
                self.wire.socket.close()
            return
        room = self.settings.max_bytes - self.overhead
        self.overhead += len(data)
        if self.in_head and len(data) > room:  # parse what fits: the head may end there, a body follow
            self.parse(data[:room])
            if self.in_head and not self.transport.is_closing():
                self.too_large()
                return
            data = data[room:]
        if not self.transport.is_closing():
            self.parse(data)
        if self.overhead > self.settings.max_bytes and not self.transport.is_closing():
            self.too_large()  # trailers or chunk framing: checked after each read, not before

    def too_large(self) -> None:
        message = (
            f"request line and headers (and chunked framing and trailers) over {self.settings.max_bytes} "
            "bytes (serving.max_header_bytes): send less"
        )
        self.refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, message, "headers", "header_too_large")

    def parse(self, data: bytes) -> None:
        """uvicorn's ``data_received``, but a request the parser refuses gets a JSON 400 naming
        the reason and is counted, instead of a plain-text 400 and a WARNING line per request."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:  # served as plain HTTP: nothing to log per request
            rest = data[upgrade.args[0] :]  # httptools resumed parsing: the requests pipelined behind it
            if rest and not self.upgrade_refused and not self.transport.is_closing():
                self.parse(rest)
        except httptools.HttpParserCallbackError:  # raised in uvicorn's callbacks: say no more
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                "malformed HTTP request (unparsable URL or header): this port speaks plain HTTP/1.1",
                "request",
                "malformed_http",
            )
        except httptools.HttpParserError as exc:  # llhttp's reason, e.g. "Duplicate Content-Length"
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                f"malformed HTTP request ({exc}): this port speaks plain HTTP/1.1",
                "request",
                "malformed_http",
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.started = True
        if self.deadline is None:  # the next request on a kept-alive connection
            self.arm()

    def on_headers_complete(self) -> None:
        self.disarm()
        if self.parser.should_upgrade() and self.declares_body():
            # httptools would end this request here, its body unread: the app would see none.
            message = (
                "a request with a body and an Upgrade header is not served: this port speaks plain "
                "HTTP/1.1; send it without Upgrade (curl: --http1.1 instead of --http2)"
            )
            self.upgrade_refused = True
            self.refuse(HTTPStatus.BAD_REQUEST, message, "request", "upgrade_with_body")  # lingers: in_head
            return
        self.in_head = False
        super().on_headers_complete()

    def declares_body(self) -> bool:  # the parser has checked the framing
        return any(
            name == b"transfer-encoding" or (name == b"content-length" and int(value) > 0)
            for name, value in self.headers
        )

    def on_body(self, body: bytes) -> None:
        # At 0 at least: the end of one read can start the next request, not counted above.
        self.overhead = max(self.overhead - len(body), 0)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_head, self.overhead = True, 0
        if not self.upgrade_refused:  # refused in its head (``on_headers_complete``): no request to end
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
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
        self.flow.resume_reading()  # uvicorn pauses reading while a body waits for the app
        self.linger_timer = self.loop.call_later(self.settings.linger_s, socket.close)

    def arm(self) -> None:
        self.deadline = self.loop.call_later(self.settings.timeout_s, self.expired)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def expired(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.started:  # a slow client, not one with much to send: closed at once
            message = f"headers not received within {self.settings.timeout_s:g} s"
            self.refuse(HTTPStatus.REQUEST_TIMEOUT, message, "headers", "header_timeout", linger=False)
            return
        self.wire.socket.close()
        self.settings.count(HTTPStatus.REQUEST_TIMEOUT, {("headers", "header_timeout")})

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


def install(serving: ServingParams, count: Count, outer: Callable[[Any, Count], Any]) -> None:
    """From now on, uvicorn servers started in this process (``http="auto"``) use ``HeaderDeadline``,
    and serve ``outer(app, count)`` instead of the app itself."""
    HeaderDeadline.settings = Deadline(
        serving.header_timeout_s,
        serving.max_header_bytes,
        count,
        outer,
        serving.body_timeout_s,
        serving.max_body_bytes_in_flight,
    )
    protocols: dict[str, Any] = uvicorn.config.HTTP_PROTOCOLS
    protocols["auto"] = f"{__name__}:HeaderDeadline"
