"""BentoML's whole-request deadline (``serving.timeout_s``: a 504 when no answer has started in
time) with its timer cancelled once the request is done.

BentoML 1.4's ``TimeoutMiddleware`` arms ``loop.call_later(timeout_s, ...)`` in every request and
never cancels it: each request left a timer on the worker's loop for ``timeout_s`` (30 s), holding
a future and a copy of the request's context (about 500 B). The rate of requests, not their size,
set what that held: 200 connections pipelining ``GET /livez`` as fast as they could for 10 s grew
a one-worker server from 225 MB to 1,320 MB, back to 515 MB only once the timers of the last
requests had fired. ``install`` has BentoML build ``CancelledTimeout`` instead (it looks the class
up in its module each time it builds a worker's app).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse


class CancelledTimeout(traffic.TimeoutMiddleware):
    """BentoML's ``TimeoutMiddleware.__call__`` (same answers), its timer cancelled at the end."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def sending(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)  # the answer has started: no 504 now
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, sending))
        try:
            await waiter
        except TimeoutError:
            if task.cancel():
                message = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": message}, status_code=504)(scope, receive, send)
        else:
            await task
        finally:
            timer.cancel()


def install() -> None:
    """From now on, the apps BentoML builds in this process use ``CancelledTimeout``."""
    traffic.TimeoutMiddleware = CancelledTimeout  # type: ignore[misc]
