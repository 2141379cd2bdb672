"""Optional bearer-token authentication (``Authorization: Bearer <token>``).

Off unless tokens are configured, so ``make serve`` stays open on localhost. Tokens come
from the environment of the server, one or more each (whitespace- or comma-separated; ``#``
starting a word comments out the rest of its line):

| variable | protects |
|---|---|
| ``MLAPP_API_TOKENS`` or ``MLAPP_API_TOKENS_FILE`` | ``/predict``, ``/metadata``, ``/docs.json``, |
| | ``/schema.json`` (BentoML's list of routes) |
| ``MLAPP_METRICS_TOKENS`` or ``MLAPP_METRICS_TOKENS_FILE`` | ``/metrics`` (else the API's tokens) |

``/metrics`` is never left open while ``/predict`` is guarded: it tells whoever reaches it the
model version, threshold, score distribution and error rates. Its own tokens (infra/base: the
Prometheus scrape's) are least privilege: a metrics reader cannot predict, a client cannot read
the metrics; without them an API token reads them too. With no token at all (``make serve``)
everything is open.

A ``*_FILE`` is typically a Kubernetes Secret mounted as a volume (infra/base): it is
re-read when its modification time or inode changes (checked at most once a second), so
a rotated Secret takes effect without a restart; list old and new tokens during a
rotation. Health probes (``/livez``, ``/readyz``, ``/healthz``) are always open. A missing
or wrong token is a 401 with ``WWW-Authenticate: Bearer`` (RFC 6750), two ``Authorization``
headers a 400 (``error="invalid_request"``, RFC 6750 3.1); every configured
token is compared with ``hmac.compare_digest``, so timing does not reveal a prefix.
A file that cannot be read keeps the last good tokens (and logs once) instead of opening
the service or failing requests with a 5xx.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
API_ENV = "MLAPP_API_TOKENS"
METRICS_ENV = "MLAPP_METRICS_TOKENS"
API_PATHS = ("/predict", "/metadata", "/docs.json", "/schema.json")
METRICS_PATHS = ("/metrics",)
RECHECK_S = 1.0
COMMENT = re.compile(r"(?:^|\s)#")


def parse_tokens(text: str) -> tuple[bytes, ...]:
    """Tokens separated by whitespace or commas; a ``#`` that starts a word comments out the rest of
    its line (each word of a comment was accepted as a token: ``# API clients`` let ``Bearer API`` in)."""
    kept = (COMMENT.split(line, maxsplit=1)[0] for line in text.splitlines())
    return tuple(t.encode() for line in kept for t in re.split(r"[\s,]+", line) if t)


class Tokens:
    """The tokens of one variable: fixed from the environment or re-read from a file."""

    def __init__(self, value: str | None, file: str | None) -> None:
        self.file = Path(file) if file else None
        self.tokens: tuple[bytes, ...] = parse_tokens(value or "")
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -RECHECK_S
        if self.file is not None:
            self.refresh(force=True)

    @classmethod
    def from_env(cls, name: str, environ: Mapping[str, str] = os.environ) -> Tokens:
        return cls(environ.get(name), environ.get(f"{name}_FILE"))

    @property
    def enabled(self) -> bool:
        return self.file is not None or bool(self.tokens)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.file is None or (not force and now - self._checked < RECHECK_S):
            return
        self._checked = now
        try:
            info = self.file.stat()  # follows the Secret volume's symlinks to the current data
            # The size too: a file rewritten in place (truncated, then written) within one tick
            # of the file system's clock keeps its mtime, and a read between the two saw none.
            stamp = (info.st_mtime_ns, info.st_ino, info.st_size)
            if stamp != self._stamp:
                self.tokens, self._stamp = parse_tokens(self.file.read_text()), stamp
        except OSError as exc:
            if self._stamp is not None or force:
                logger.warning("cannot read tokens from %s (%s): keeping the last ones", self.file, exc)
            self._stamp = None

    def accepts(self, presented: bytes) -> bool:
        self.refresh()
        ok = False
        for token in self.tokens:  # no early exit: the number of comparisons is always the same
            ok |= hmac.compare_digest(presented, token)
        return ok


def bearer(value: bytes | None) -> bytes | None:
    """The token of one ``Authorization`` value, if it is a bearer token."""
    scheme, _, token = (value or b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


class BearerAuth:
    """ASGI middleware: 401 for a protected path without a configured token, 400 for two."""

    def __init__(self, app: Any, api: Tokens | None = None, metrics: Tokens | None = None) -> None:
        self.app = app
        api = api or Tokens.from_env(API_ENV)
        metrics = metrics or Tokens.from_env(METRICS_ENV)
        # Tokens for /predict only left /metrics open to anyone who reached the port.
        metrics = metrics if metrics.enabled else api
        self.rules = [(paths, tokens) for paths, tokens in ((API_PATHS, api), (METRICS_PATHS, metrics))
                      if tokens.enabled]  # fmt: skip

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.rules and scope["type"] == "http":
            path = scope["path"]
            for paths, tokens in self.rules:
                if path.startswith(paths):
                    sent = [value for name, value in scope["headers"] if name == b"authorization"]
                    if len(sent) > 1:  # ambiguous: a proxy in front may judge the other one; pick none
                        await _deny(send, 400, b"send one Authorization header", b"invalid_request")
                        return
                    presented = bearer(sent[0] if sent else None)
                    if presented is None or not tokens.accepts(presented):
                        wrong = b"invalid_token" if presented is not None else None
                        await _deny(send, 401, b"missing or invalid bearer token", wrong)
                        return
                    break
        await self.app(scope, receive, send)


async def _deny(send: Any, status: int, message: bytes, error: bytes | None) -> None:
    """A JSON ``{"error": message}`` with the RFC 6750 challenge (``error`` its code, if any)."""
    challenge = b'Bearer realm="mlapp"' + (b', error="' + error + b'"' if error else b"")
    body = b'{"error":"' + message + b'"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
