"""BentoML's whole-request deadline (``serving.timeout_s``: a 504 when no answer has started in
time), its timer cancelled once the answer starts, run in the request's own task.

BentoML 1.4's ``TimeoutMiddleware`` arms ``loop.call_later(timeout_s, ...)`` in every request and
never cancels it: each request left a timer on the worker's loop for ``timeout_s`` (30 s), holding
a future and a copy of the request's context (about 500 B). The rate of requests, not their size,
set what that held: 200 connections pipelining ``GET /livez`` as fast as they could for 10 s grew
a one-worker server from 225 MB to 1,320 MB, back to 515 MB only once the timers of the last
requests had fired. It also ran the rest of the app in a task of its own (``ensure_future``) and
waited on a future for the first message: the middleware cost ~12 us of a 1-row request's ~200 us
of CPU, ~5 us less with ``asyncio.timeout`` cancelling the request's own task, and only while no
message has been sent (in one process on uvloop, 30 and 40 interleaved blocks of 200 requests).
An error raised before the first message is raised at once: BentoML's waited ``timeout_s`` for a
message that never came, then dropped it (no answer for 30 s, then uvicorn's bare 500).
``install`` has BentoML build ``CancelledTimeout`` instead of its class (it looks the class up in
its module each time it builds a worker's app).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse


class CancelledTimeout(traffic.TimeoutMiddleware):
    """BentoML's ``TimeoutMiddleware`` (same answers), in the request's task, its timer cancelled."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        deadline = asyncio.timeout(self.timeout)
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            if not started:
                started = True
                if not deadline.expired():  # the answer has started: no 504 now
                    deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, sending)
        except TimeoutError:
            if not deadline.expired():  # the app's own, not this deadline's
                raise
            message = f"Not able to process the request in {self.timeout} seconds"
            await JSONResponse({"error": message}, status_code=504)(scope, receive, send)


def install() -> None:
    """From now on, the apps BentoML builds in this process use ``CancelledTimeout``."""
    traffic.TimeoutMiddleware = CancelledTimeout  # type: ignore[misc]
