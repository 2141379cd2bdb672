"""``POST /predict`` as a plain ASGI app, mounted on the BentoML service.

Why not a ``@bentoml.api``: BentoML would read and parse the body before any of our code
runs (no size cap, its multipart parser for a second Content-Type, a pydantic object per
record, a JSON-schema response model), and a client leaving mid-body would be its 500.
Mounted, the request still passes BentoML's middlewares (request metrics, traffic timeout,
``max_concurrency``, ours: auth and model headers), and this code owns the rest:

1. admission (``admission.py``): Content-Type, size cap, the worker's budget of body bytes in
   flight, body deadline: 415/413/429/408; the request's bytes are held until it is answered,
   refused, cancelled (``serving.timeout_s``) or its client gone;
2. parse, validate, predict, render (``ModelService.score_yielding``) on the event loop,
   ``serving.chunk_rows`` rows at a time, round robin with the other requests, at most
   ``serving.loop_slice_ms`` per pass of the loop (``turns.py``): a large request cannot
   stall small ones, nor a flood the health probes (and no second thread competes for the
   GIL: on a busy machine a preempted thread holding it stalls the loop);
3. a refused request is counted (``mlapp_rejections_total{field,rule}``) and logged at most
   once per ``LOG_EVERY_S`` as one aggregated line, never once per request; a client that
   disconnected is answered 499 (dropped by the server, but counted as a client error in
   BentoML's request metrics instead of a 500) and not logged.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from mlapp.serving import responses
from mlapp.serving.admission import (
    SERVER_REFUSED,
    BodyBudget,
    BodyCap,
    ClientGone,
    Held,
    Refused,
    check_headers,
    read_body,
)
from mlapp.serving.paths import not_allowed

logger = logging.getLogger(__name__)
LOG_EVERY_S = 60.0
JSON = (b"content-type", b"application/json")
CLOSE = (b"connection", b"close")


class RefusalLog:
    """One log line per interval with what was refused, instead of one per request."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self.counts: Counter[str] = Counter()
        self.last = -every_s

    def add(self, status: int, labels: set[tuple[str, str]]) -> None:
        for field, rule in labels:
            self.counts[f"{status} {field}:{rule}"] += 1
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.counts:
            top = ", ".join(f"{key} x{n}" for key, n in self.counts.most_common(10))
            logger.info("refused requests since the last report: %s", top)
            self.counts.clear()
        self.last = time.monotonic() if now is None else now


class PredictEndpoint:
    def __init__(
        self,
        scorer: Callable[[], Any],  # the live service (``score_yielding(body) -> bytes``), per worker
        count: Callable[[int, set[tuple[str, str]]], None],
        cap: BodyCap,
        body_timeout_s: float,
        budget: BodyBudget,  # this worker's (serving.max_body_bytes_in_flight)
    ) -> None:
        self.scorer = scorer
        self.count = count
        self.cap = cap
        self.body_timeout_s = body_timeout_s
        self.budget = budget
        self.log = RefusalLog()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            body = not_allowed(scope["method"], scope["path"], "POST")  # as every route's 405 says it
            await self._reply(send, 405, body, [(b"allow", b"POST")])
            return
        held = self.budget.hold()
        try:
            await self._predict(scope, receive, send, held)
        finally:  # answered, refused, client gone, cancelled by the request timeout
            held.release()

    async def _predict(self, scope: dict[str, Any], receive: Any, send: Any, held: Held) -> None:
        try:
            length = check_headers(scope["headers"], self.cap)
            try:
                held.grow(length)  # before a byte of the body is read
            except Refused as refused:  # answered now: the server drops the rest and keeps the
                refused.close = False  # connection for the retry (closing.py)
                raise
            body = await read_body(receive, self.cap, self.body_timeout_s, held)
            answer = await self.scorer().score_yielding(body)
        except Refused as refused:
            # Its traceback's frames (this request's steps, holding its body and records) sit in a
            # reference cycle with the future that carried it (turns.py), freed only by a full
            # garbage collection, which counts objects, not bytes: a flood of 1,000-row bodies
            # refused for one bad value grew each worker by 400-500 MB. Their locals go now.
            traceback.clear_frames(refused.__traceback__)
            self._refused(refused.status, refused.labels)
            extra = [CLOSE] if refused.close else []
            if refused.retry_after_s is not None:
                extra.append((b"retry-after", str(refused.retry_after_s).encode()))
            await self._reply(send, refused.status, responses.error(refused.message, refused.detail), extra)
            return
        except ClientGone:
            status = scope.get(SERVER_REFUSED)  # the server's own refusal, answered and counted there
            if status is None:
                self._refused(499, {("body", "client_disconnected")}, log=False)
            await self._reply(send, status or 499, b"")  # for the request metrics: the client gets nothing
            return
        await self._reply(send, 200, answer)

    def _refused(self, status: int, labels: set[tuple[str, str]], log: bool = True) -> None:
        try:
            self.count(status, labels)
            if log:
                self.log.add(status, labels)
        except Exception:  # accounting must never turn a 4xx into a 500
            logger.exception("could not count a refused request")

    @staticmethod
    async def _reply(
        send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
