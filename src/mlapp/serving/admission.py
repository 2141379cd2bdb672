"""Admission of a ``/predict`` request before any JSON is built.

In order, each refusal cheap and a 4xx:
1. exactly one ``Content-Type``, ``application/json`` with no parameter but an optional
   ``charset=utf-8`` (415): a second header or another media type would otherwise reach a
   parser nobody configured; and no ``Content-Encoding`` but ``identity``, no
   ``Transfer-Encoding`` but ``chunked`` (415): the body is never decompressed (no gzip
   bomb), so a gzipped body would be "invalid JSON";
2. a ``Content-Length`` above the body cap (413), answered from the header alone;
3. a body that would take the worker's bodies in flight past ``serving.max_body_bytes_in_flight``
   (``BodyBudget``): a 429 with ``Retry-After``, from ``Content-Length`` before the body is
   read, else as it streams. ``max_concurrency`` bounds requests, not bytes: 256 bodies at the
   cap took the image to 770-807 MiB of its 1 GiB, 480-539 MiB with the budget (docs/serving.md,
   benchmarks/body_burst.py). A request's bytes are held until answered, released on every path.
   Refused from its ``Content-Length``, its connection stays (the server drops the body, closing.py);
4. the body read with the cap enforced while it streams (413 as soon as it is passed, even
   without ``Content-Length``) and a deadline for the whole body (408): a slow client
   cannot hold a request slot for longer than ``serving.body_timeout_s``;
5. a client that goes away mid-body is ``ClientGone``: not a server error, the caller
   records it as status 499 (the convention of nginx) and logs nothing.

The body cap is ``serving.max_rows * serving.max_row_bytes``: the largest valid request
with room for pretty-printed JSON. ``max_row_bytes: auto`` is the longest row the served
schema allows (``row_width.widest_row``), at least ``settings.AUTO_MIN_ROW_BYTES``.

Why 429 and not 503 for the budget: it is the answer the same condition (too much in flight)
already gets from BentoML's ``max_concurrency``, so one status means "retry later" (with
``Retry-After``); a 5xx would count as a server error in the request metrics and error-rate
alerts while nothing is wrong with the server; the HPA scales on CPU, which no status changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
RETRY_AFTER_S = 1  # a body in flight is answered within serving.timeout_s, most within milliseconds


class Refused(Exception):
    """A request the service does not take: status, a (field, rule) pair per reason, the message."""

    def __init__(
        self,
        status: int,
        rule: str,
        message: str,
        detail: list[dict[str, Any]] | None = None,
        labels: Iterable[tuple[str, str]] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.labels = set(labels) if labels is not None else {("body", rule)}
        self.retry_after_s = retry_after_s
        # The rest of the body is never read: drop the connection (not for a 429 from Content-Length)
        self.close = status in (408, 413, 429)


@dataclass(frozen=True)
class BodyCap:
    """The largest body read: ``max_rows`` rows of ``row_bytes``; ``source`` says where
    ``row_bytes`` comes from (params.yaml, or ``auto`` and the served schema)."""

    max_rows: int
    row_bytes: int
    source: str

    @property
    def limit(self) -> int:
        return self.max_rows * self.row_bytes

    def setting(self) -> str:
        """The settings behind the cap, as the 413 and /metadata say them."""
        return f"serving.max_rows {self.max_rows} x serving.max_row_bytes {self.row_bytes} ({self.source})"

    def why(self) -> str:
        return f"({self.setting()}: send fewer rows, or set serving.max_row_bytes to a larger number)"


class BodyBudget:
    """The body bytes this worker's requests in flight hold, at most ``limit``
    (``serving.max_body_bytes_in_flight``). One per worker, used on its event loop only."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def hold(self) -> Held:
        return Held(self)


class Held:
    """One request's share of the budget: grows to its body's size, released once."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.size = 0

    def grow(self, size: int) -> None:
        """Hold ``size`` bytes in all, or ``Refused`` (429) if that passes the budget."""
        more, budget = size - self.size, self.budget
        if more <= 0:
            return
        if budget.held + more > budget.limit:
            raise Refused(
                429,
                "body_budget",
                f"a body of {size:,} bytes would take this worker's request bodies in flight from "
                f"{budget.held:,} to {budget.held + more:,} bytes, over serving.max_body_bytes_in_flight "
                f"({budget.limit:,}): retry after {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S,
            )
        budget.held += more
        self.size = size

    def release(self) -> None:
        self.budget.held -= self.size
        self.size = 0


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


# The status the HTTP server answered when it refused a request itself while its body was being
# read (malformed chunked framing, framing past serving.max_header_bytes), in the request's ASGI
# scope (closing.py, refuse): counted there, and the end of that body is no client leaving.
SERVER_REFUSED = "mlapp.server_refused"


# Codings the body may arrive in: (accepted values, rule, what to send instead). The HTTP parser
# refuses most, but reads "gzip, chunked" as chunked, gzip ignored; nothing is decompressed.
CODINGS = {
    b"transfer-encoding": ((b"chunked",), "transfer_encoding", "send chunked or a length"),
    b"content-encoding": ((b"", b"identity"), "content_encoding", "send the JSON uncompressed"),
}


def check_headers(headers: Iterable[tuple[bytes, bytes]], cap: BodyCap) -> int:
    """The body's ``Content-Length`` (0 without one), or ``Refused`` (415, 413)."""
    content_types: list[bytes] = []
    length: bytes | None = None
    for name, value in headers:  # ASGI: names are lower-case bytes
        if name == b"content-type":
            content_types.append(value)
        elif name == b"content-length":
            length = value
        elif name in CODINGS and value.strip().lower() not in CODINGS[name][0]:
            _accepted, rule, instead = CODINGS[name]
            shown = value.decode("latin-1")[:64]
            raise Refused(415, rule, f"{name.decode().title()} {shown!r} is not accepted: {instead}")
    if len(content_types) != 1:
        raise Refused(
            415, "content_type_count", f"send exactly one Content-Type header, got {len(content_types)}"
        )
    media, _, params = content_types[0].partition(b";")
    if media.strip().lower() != b"application/json":
        shown = media.strip().decode("latin-1")[:64]
        raise Refused(
            415, "unsupported_media_type", f"unsupported Content-Type {shown!r}: send application/json"
        )
    for param in filter(None, (p.strip() for p in params.split(b";"))):
        key, _, value = param.partition(b"=")
        if key.strip().lower() != b"charset" or value.strip().strip(b'"').lower() not in (b"utf-8", b"utf8"):
            shown = param.decode("latin-1")[:64]
            raise Refused(
                415, "unsupported_charset", f"unsupported Content-Type parameter {shown!r}: JSON is UTF-8"
            )
    if length is not None and length.isdigit() and int(length) > cap.limit:
        raise Refused(
            413,
            "body_too_large",
            f"body of {int(length)} bytes is over the limit of {cap.limit} bytes {cap.why()}",
        )
    return int(length) if length is not None and length.isdigit() else 0


async def read_body(receive: Receive, cap: BodyCap, timeout_s: float, held: Held) -> bytes:
    """The whole body, at most ``cap.limit`` bytes, within ``timeout_s``, ``held`` as it arrives."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > cap.limit:
                    raise Refused(
                        413, "body_too_large", f"body over the limit of {cap.limit} bytes {cap.why()}"
                    )
                held.grow(size)  # within a Content-Length already held: nothing more
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
    except TimeoutError:
        raise Refused(408, "body_timeout", f"body not received within {timeout_s:g} s") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
