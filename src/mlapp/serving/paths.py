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
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlapp.serving import responses

ROUTES = frozenset(
    {"/", "/predict", "/metadata", "/docs.json", "/schema.json", "/metrics", "/livez", "/healthz", "/readyz"}
)
STATIC = "/static_content/"  # BentoML's page (``/``) loads its scripts and styles from here
NOT_FOUND = responses.error("no such path: predictions are POST /predict; /docs.json describes the API")
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(NOT_FOUND))]


@functools.cache
def known() -> frozenset[str]:
    """``ROUTES`` and the files BentoML serves under ``STATIC`` (none if its layout changes:
    its page loses its styles, and still no unknown path gets through)."""
    from bentoml._internal import server  # where BentoML's service app finds them too

    folder = Path(server.__file__).parent / "static_content"
    files = folder.rglob("*") if folder.is_dir() else iter(())
    return ROUTES | {STATIC + p.relative_to(folder).as_posix() for p in files if p.is_file()}


class KnownPaths:
    """ASGI middleware: 404 for any path but the service's."""

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
        await self.app(scope, receive, send)
