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
buffered, the rest after the read that passed the cap. A read is parsed a slice at a time (a
head's ``pipelined.SLICE_BYTES``, a body to its end), so that parsing stops once
``pipelined.MAX_QUEUED`` requests wait; the heads that ended in a slice count towards the cap on
the next one (64 KiB of small pipelined heads in one read was a 431). And a request the parser
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

How a connection ends (lingering close, half-close, refusals behind pipelined requests) is its
base class's (``closing.py``).

``install`` makes it uvicorn's ``auto`` protocol, the one BentoML's workers ask for, so it is
in place whether the worker is a fork of the server process or a new interpreter importing
the service. It is called when the service module is imported, before the worker builds its
uvicorn configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn.config

from mlapp.params import ServingParams
from mlapp.serving import heads, versions
from mlapp.serving.closing import Closing, Count, Deadline
from mlapp.serving.pipelined import SLICE_BYTES

# A chunked body's slice: its end is not known ahead. Larger than a head's, as uvicorn appends each
# slice of a body to what it has, a copy each (256 KB in 4 KiB slices would copy ~8 MB).
CHUNKED_SLICE_BYTES = 4 * SLICE_BYTES


class Refused(Exception):
    """Raised in a parser callback once its request is refused: llhttp parses nothing more (the
    requests pipelined behind it are never served on a connection that is closing)."""


class HeaderDeadline(Closing):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unread_timeout_s = self.settings.linger_s  # answers unread: unread.py
        # Outside every middleware BentoML adds (its request metrics among them), per connection.
        self.app = self.settings.outer(self.app, self.settings.count)
        # No WebSocket route: an Upgrade request is served as plain HTTP, through ``self.app``
        # (uvicorn's WebSocket protocol would serve the bare app, unknown paths included).
        self.ws_protocol_class = None

    def count_unread(self) -> None:  # a method: a lambda on self was a reference cycle (unread.py)
        self.settings.count(408, {("response", "not_read")})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.started = False
        self.deadline: asyncio.TimerHandle | None = None
        self.upgrade_refused = False  # an Upgrade request with a body: answered 400, closing
        self.body_read, self.ended = 0, False  # of the part ``read`` parses: body bytes, a request ended
        self.body_left: int | None = 0  # of the request's body, by its Content-Length; None: chunked
        self.arm()

    def read(self, data: bytes) -> None:
        if self.backlog:  # requests wait unparsed before these bytes (reading is held meanwhile)
            self.backlog += data
            return
        while data and not self.transport.is_closing():
            if self.full():  # enough requests wait: the rest is parsed as they start (pipelined.py)
                self.backlog += data
                return
            room = max(self.settings.max_bytes - self.overhead, 0)  # past it after a chunked body's slice
            # A slice at a time, to stop once enough requests wait: a head at most what fits under the
            # cap (the head may end there, a body or the next request follow), a body to its end.
            if self.in_head:
                size = min(room, SLICE_BYTES)
            else:
                size = CHUNKED_SLICE_BYTES if self.body_left is None else max(self.body_left, 1)
            capped = self.in_head and size == room
            part, data = data[:size], data[size:]
            self.overhead += len(part)
            self.body_read, self.ended = 0, False
            if rest := self.parse(part):  # after an Upgrade request: parsed next, as the part's end
                part, data = part[: -len(rest)], rest + data
                self.overhead -= len(rest)
            if self.ended:
                # A request ended in this part: the next one's bytes in it are at most the part's
                # after the bodies. Counting from 0 let a head pipelined behind a request pass the
                # cap by what came in the read that ended that.
                self.overhead = len(part) - self.body_read
            if capped and data and self.in_head and not self.ended:
                return self.too_large()  # the head went on past the cap
        if self.overhead > self.settings.max_bytes and not self.transport.is_closing():
            self.too_large()  # trailers or chunk framing: checked after each read, not before

    def too_large(self) -> None:
        message = heads.too_large(self.settings.max_bytes, chunked=True)
        self.refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, message, "headers", "header_too_large")

    def parse(self, data: bytes) -> bytes:
        """uvicorn's ``data_received``, but a request the parser refuses gets a JSON 400 naming
        the reason and is counted, instead of a plain-text 400 and a WARNING line per request.
        What it did not parse: the bytes after a bodiless ``Upgrade`` request, for ``read``."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:  # served as plain HTTP: nothing to log per request
            rest = data[upgrade.args[0] :]  # httptools resumed parsing: the requests pipelined behind it
            if not self.upgrade_refused and not self.transport.is_closing():
                return rest
        except httptools.HttpParserCallbackError as exc:  # raised in uvicorn's callbacks: say no more
            if isinstance(exc.__context__, Refused):  # refused in ``on_headers_complete``: answered
                return b""
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                "malformed HTTP request (unparsable URL or header): this port speaks plain HTTP/1.1",
                "request",
                "malformed_http",
            )
        except httptools.HttpParserError as exc:  # llhttp's reason, e.g. "Duplicate Content-Length"
            if str(exc) in versions.PARSER_REASONS:
                self.refuse_version(versions.PARSER_REASONS[str(exc)])
                return b""
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                f"malformed HTTP request ({exc}): this port speaks plain HTTP/1.1",
                "request",
                "malformed_http",
            )
        return b""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.started = True
        if self.deadline is None:  # the next request on a kept-alive connection
            self.arm()

    def refuse_version(self, version: str | None) -> None:
        message = versions.unsupported(version)
        self.refuse(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, message, "request", "http_version")

    def on_headers_complete(self) -> None:
        self.disarm()
        if (version := self.parser.get_http_version()) not in versions.SERVED:
            # Served, it was answered as HTTP/1.1 (``versions.py``). Its body, if any, is dropped
            # with what follows while the connection closes (lingering: ``in_head`` stays true).
            self.refuse_version(version)
            raise Refused(version)
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
        self.body_left = self.body_length()
        super().on_headers_complete()

    def declares_body(self) -> bool:  # the parser has checked the framing
        return self.body_length() != 0

    def body_length(self) -> int | None:
        """The body's length by its Content-Length (the parser has checked the framing); None: chunked."""
        if any(name == b"transfer-encoding" for name, _ in self.headers):
            return None
        return next((int(value) for name, value in self.headers if name == b"content-length"), 0)

    def on_body(self, body: bytes) -> None:
        # At 0 at least: the end of one read can start the next request, not counted above.
        self.overhead = max(self.overhead - len(body), 0)
        self.body_read += len(body)
        if self.body_left is not None:
            self.body_left -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_head, self.overhead, self.ended = True, 0, True
        if not self.upgrade_refused:  # refused in its head (``on_headers_complete``): no request to end
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

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
            message = heads.too_slow(self.settings.timeout_s)
            self.refuse(HTTPStatus.REQUEST_TIMEOUT, message, "headers", "header_timeout", linger=False)
            return
        self.wire.socket.close()
        self.settings.count(HTTPStatus.REQUEST_TIMEOUT, {("headers", "header_timeout")})


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
