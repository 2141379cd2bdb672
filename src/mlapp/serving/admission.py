"""Admission of a ``/predict`` request before any JSON is built.

In order, each refusal cheap and a 4xx:
1. exactly one ``Content-Type``, ``application/json`` with no parameter but an optional
   ``charset=utf-8`` (415): a second header or another media type would otherwise reach a
   parser nobody configured; and no ``Content-Encoding`` but ``identity``, no
   ``Transfer-Encoding`` but ``chunked`` (415): the body is never decompressed (no gzip
   bomb), so a gzipped body would be "invalid JSON";
2. a ``Content-Length`` above the body cap (413), answered from the header alone;
3. the body read with the cap enforced while it streams (413 as soon as it is passed, even
   without ``Content-Length``) and a deadline for the whole body (408): a slow client
   cannot hold a request slot for longer than ``serving.body_timeout_s``;
4. a client that goes away mid-body is ``ClientGone``: not a server error, the caller
   records it as status 499 (the convention of nginx) and logs nothing.

The body cap is ``serving.max_rows * serving.max_row_bytes``: the largest valid request
with room for pretty-printed JSON. ``max_row_bytes: auto`` is the longest row the served
schema allows (``records.widest_row``), at least ``settings.AUTO_MIN_ROW_BYTES``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


class Refused(Exception):
    """A request the service does not take: status, a (field, rule) pair per reason, the message."""

    def __init__(
        self,
        status: int,
        rule: str,
        message: str,
        detail: list[dict[str, Any]] | None = None,
        labels: Iterable[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.labels = set(labels) if labels is not None else {("body", rule)}
        self.close = status in (408, 413)  # the rest of the body is never read: drop the connection


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


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


# Codings the body may arrive in: (accepted values, rule, what to send instead). The HTTP parser
# refuses most, but reads "gzip, chunked" as chunked, gzip ignored; nothing is decompressed.
CODINGS = {
    b"transfer-encoding": ((b"chunked",), "transfer_encoding", "send chunked or a length"),
    b"content-encoding": ((b"", b"identity"), "content_encoding", "send the JSON uncompressed"),
}


def check_headers(headers: Iterable[tuple[bytes, bytes]], cap: BodyCap) -> None:
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


async def read_body(receive: Receive, cap: BodyCap, timeout_s: float) -> bytes:
    """The whole body, at most ``cap.limit`` bytes, within ``timeout_s``."""
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
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
    except TimeoutError:
        raise Refused(408, "body_timeout", f"body not received within {timeout_s:g} s") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
