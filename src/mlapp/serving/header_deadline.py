"""A read deadline for request headers, in the HTTP server the workers run (uvicorn + httptools).

The ASGI app sees a request only once its headers are complete, so ``admission.py`` cannot
bound how long a client takes to send them, and uvicorn has no such setting: its keep-alive
timer is cancelled by any byte received, so a client that sends one header byte at a time
holds its connection for ever. ``HeaderDeadline`` is uvicorn's httptools protocol with one
timer per request: armed when the connection opens (or the next request on it begins),
cancelled when the headers are complete. When it fires, a client that started a request is
answered 408 and the connection is closed; one that sent nothing is closed (as an idle
keep-alive connection is). Either way it is counted (``mlapp_rejections_total``,
``field="headers"``, ``rule="header_timeout"``), not logged.

``install`` makes it uvicorn's ``auto`` protocol, the one BentoML's workers ask for, so it is
in place whether the worker is a fork of the server process or a new interpreter importing
the service. It is called when the service module is imported, before the worker builds its
uvicorn configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn.config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlapp.serving import responses

LABELS = {("headers", "header_timeout")}


@dataclass(frozen=True)
class Deadline:
    timeout_s: float  # ``serving.header_timeout_s``
    count: Callable[[int, set[tuple[str, str]]], None]  # the refusal counter (``telemetry.count_refusal``)


class HeaderDeadline(HttpToolsProtocol):
    settings: ClassVar[Deadline]  # set by ``install``, before uvicorn can pick this class

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.started = False
        self.deadline: asyncio.TimerHandle | None = None
        self.arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.started = True
        if self.deadline is None:  # the next request on a kept-alive connection
            self.arm()

    def on_headers_complete(self) -> None:
        self.disarm()
        super().on_headers_complete()

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
        if self.started:
            body = responses.error(f"headers not received within {self.settings.timeout_s:g} s")
            head = (
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
            )
            self.transport.write(head + body)
        self.transport.close()
        self.settings.count(408, LABELS)


def install(timeout_s: float, count: Callable[[int, set[tuple[str, str]]], None]) -> None:
    """From now on, uvicorn servers started in this process (``http="auto"``) use ``HeaderDeadline``."""
    HeaderDeadline.settings = Deadline(timeout_s, count)
    protocols: dict[str, Any] = uvicorn.config.HTTP_PROTOCOLS
    protocols["auto"] = f"{__name__}:HeaderDeadline"
