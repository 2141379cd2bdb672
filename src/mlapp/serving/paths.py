"""A request for a path the service does not serve is a 404 before BentoML's request metrics see it.

BentoML's request metrics (``bentoml_service_request_*``) label each series with the raw
request path, so every new unknown path was a new series in every worker, kept for the life
of the server: 3,000 requests to random paths (no token needed, a 404 each) grew ``/metrics``
from 8 KB to 13 MB and the server's metrics folder from 52 KB to 19 MB (6,000: 37 MB). That
folder is under ``TMPDIR``, an emptyDir of 256 MiB in infra/base: one client sending such
requests for a minute would fill it and get the pod evicted. BentoML puts its metrics
middleware outside any middleware a service adds, so ``KnownPaths`` wraps the whole app in
the HTTP server (``header_deadline.py``): the service's routes and the files of BentoML's
page at ``/`` pass; any other path is a 404 counted as
``mlapp_rejections_total{field="path",rule="unknown_path"}``.

A known path asked with another method (``POST /metrics``, ``POST /docs.json``) is Starlette's
405 in plain text ("Method Not Allowed"), while every other error is JSON with a message: the
answer is rewritten here, for every route at once, into that shape, its ``Allow`` header kept.

BentoML's own 429 (more requests in flight than the worker's share of ``serving.max_concurrency``)
is given ``Retry-After`` and a message naming the setting, as the 429 of the body budget has
(``admission.py``), and counted as ``mlapp_rejections_total{field="request",rule="max_concurrency"}``:
it said only "Too many requests", no client was told when to retry, and nothing counted it but
BentoML's request metrics. Its middleware sits outside every middleware a service adds, so here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlapp.serving import responses
from mlapp.serving.admission import RETRY_AFTER_S

ROUTES = frozenset(
    {"/", "/predict", "/metadata", "/docs.json", "/schema.json", "/metrics", "/livez", "/healthz", "/readyz"}
)
STATIC = "/static_content/"  # BentoML's page (``/``) loads its scripts and styles from here
NOT_FOUND = responses.error("no such path: predictions are POST /predict; /docs.json describes the API")
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(NOT_FOUND))]
BUSY = responses.error(
    "Too many requests: this worker's share of serving.max_concurrency is in flight; "
    f"retry after {RETRY_AFTER_S} s"
)
RETRY_AFTER = (b"retry-after", b"%d" % RETRY_AFTER_S)


@functools.cache
def known() -> frozenset[str]:
    """``ROUTES`` and the files BentoML serves under ``STATIC`` (none if its layout changes:
    its page loses its styles, and still no unknown path gets through)."""
    from bentoml._internal import server  # where BentoML's service app finds them too

    folder = Path(server.__file__).parent / "static_content"
    files = folder.rglob("*") if folder.is_dir() else iter(())
    return ROUTES | {STATIC + p.relative_to(folder).as_posix() for p in files if p.is_file()}


def not_allowed(method: str, path: str, allow: str) -> bytes:
    """The 405 body: the method refused and those allowed (``allow``, the Allow header's value,
    whose order Starlette takes from a set: sorted here, so the text is the same in every worker)."""
    allowed = ", ".join(sorted(m.strip() for m in allow.split(",") if m.strip()))
    return responses.error(f"method {method} is not allowed on {path} (allowed: {allowed})")


def json_405(scope: Any, send: Any) -> Any:
    """``send``, with a plain-text 405 answered as ``not_allowed`` JSON instead."""
    replaced: list[bytes] = []  # the JSON body once the 405's head was rewritten

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = [(k.lower(), v) for k, v in message.get("headers", [])]
            if (b"content-type", b"application/json") not in headers:  # ours are JSON already
                allow = next((v.decode("latin-1") for k, v in headers if k == b"allow"), "")
                replaced.append(not_allowed(scope["method"], scope["path"], allow))
                kept = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length")]
                length = (b"content-length", b"%d" % len(replaced[0]))
                message = {**message, "headers": [*kept, HEADERS[0], length]}
        elif message["type"] == "http.response.body" and replaced:
            if not replaced[0]:
                return  # the plain text's further parts: the JSON was the whole body
            message = {**message, "body": replaced[0], "more_body": False}
            replaced[0] = b""
        await send(message)

    return sending


def retry_later(send: Any, count: Callable[[int, set[tuple[str, str]]], None]) -> Any:
    """``send``, with a 429 that says no ``Retry-After`` (BentoML's ``max_concurrency``) answered
    ``BUSY`` with ``Retry-After`` and counted; the budget's 429 (it has one) passes as it is."""
    replaced: list[bytes] = []  # ``BUSY`` once the 429's head was rewritten, then b"" once sent

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] == 429:
            headers = [(k.lower(), v) for k, v in message.get("headers", [])]
            if all(k != b"retry-after" for k, _ in headers):
                replaced.append(BUSY)
                count(429, {("request", "max_concurrency")})
                kept = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length")]
                length = (b"content-length", b"%d" % len(BUSY))
                message = {**message, "headers": [*kept, HEADERS[0], length, RETRY_AFTER]}
        elif message["type"] == "http.response.body" and replaced:
            if not replaced[0]:
                return  # BentoML's text in further parts: ``BUSY`` was the whole body
            message = {**message, "body": replaced[0], "more_body": False}
            replaced[0] = b""
        await send(message)

    return sending


class KnownPaths:
    """ASGI middleware: 404 for any path but the service's; a 405 in JSON (``json_405``)."""

    def __init__(self, app: Any, count: Callable[[int, set[tuple[str, str]]], None]) -> None:
        self.app = app
        self.count = count
        self.known = known()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in self.known:
            self.count(404, {("path", "unknown_path")})
            await send({"type": "http.response.start", "status": 404, "headers": HEADERS})
            await send({"type": "http.response.body", "body": NOT_FOUND})
            return
        if scope["type"] == "http":
            send = retry_later(send, self.count)
        # POST /predict answers its own 405s: no second wrapper on its hot path.
        if scope["type"] == "http" and (scope["method"], scope["path"]) != ("POST", "/predict"):
            send = json_405(scope, send)
        await self.app(scope, receive, send)
