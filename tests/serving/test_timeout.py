"""BentoML's whole-request deadline (``timeout.py``): no timer outlives its request, and a request
with no answer in time is still a 504. The middleware on its own, on uvloop as in the workers."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from types import ModuleType
from typing import Any

import pytest
import uvloop
from bentoml._internal.server.http import traffic

from mlapp.serving.timeout import CancelledTimeout

REQUEST = contextvars.ContextVar[object]("REQUEST")  # stands for what a request's context holds


class Held:
    """Something a request's context refers to (weakly referable)."""


async def answered(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def never_answered(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.Event().wait()


async def serve(middleware: Any) -> tuple[list[Any], bool]:
    """One request through ``middleware`` in a task whose context holds a ``Held``: what was sent,
    and whether the ``Held`` is still alive once the task and a few passes of the loop are over
    (asked on the loop: closing it frees every timer)."""
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def request() -> weakref.ref[Held]:
        held = Held()
        REQUEST.set(held)
        await middleware({"type": "http", "method": "GET", "path": "/livez"}, None, send)
        return weakref.ref(held)

    ref = await asyncio.create_task(request(), context=contextvars.Context())
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    return sent, ref() is not None


@pytest.mark.parametrize(
    ("middleware", "kept"),
    [(traffic.TimeoutMiddleware, True), (CancelledTimeout, False)],
    ids=["bentoml", "ours"],
)
def test_an_answered_request_leaves_no_timer_holding_its_context(middleware: type, kept: bool) -> None:
    """BentoML's timer kept each request's context (and its future) for ``timeout_s`` (30 s here):
    200 connections pipelining for 10 s grew a worker by 1 GB (timeout.py)."""
    sent, alive = uvloop.run(serve(middleware(answered, timeout=30)))
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert alive == kept


def test_a_request_not_answered_in_time_is_504() -> None:
    sent, alive = uvloop.run(serve(CancelledTimeout(never_answered, timeout=0.01)))
    assert sent[0]["status"] == 504
    assert b"Not able to process the request in 0.01 seconds" in sent[1]["body"]
    assert not alive


def test_the_service_has_bentoml_build_ours(service_module: ModuleType) -> None:
    """BentoML's app factories look ``TimeoutMiddleware`` up in ``traffic`` when they build an app."""
    from bentoml._internal.server.base_app import BaseAppFactory

    factory = type("Factory", (BaseAppFactory,), {"name": "test"})(timeout=30)
    assert [m.cls for m in factory.middlewares] == [CancelledTimeout]


def test_the_app_runs_in_the_requests_own_task() -> None:
    """No task of its own per request (BentoML's ``ensure_future``): ~5 us of a 1-row request's
    ~200 us of CPU (timeout.py)."""
    tasks: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        tasks.append(asyncio.current_task())
        await answered(scope, receive, send)

    async def request() -> object:
        await CancelledTimeout(app, timeout=30)({"type": "http"}, None, lambda message: asyncio.sleep(0))
        return asyncio.current_task()

    assert uvloop.run(request()) is tasks[0]


def test_a_cancellation_from_elsewhere_is_not_a_504() -> None:
    """The server cancelling a request (shutdown) gets its CancelledError back, with nothing sent."""
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def request() -> bool:
        entered = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            entered.set()
            await never_answered(scope, receive, send)

        task = asyncio.create_task(CancelledTimeout(app, timeout=30)({"type": "http"}, None, send))
        await entered.wait()  # cancelled inside the app, under the deadline, not before it starts
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert uvloop.run(request())
    assert sent == []


def test_the_apps_own_timeout_error_is_not_a_504() -> None:
    """Raised at once (a 500 from Starlette's error middleware); BentoML's waited for the first
    message or ``timeout_s``, then dropped the app's error: no answer, for 30 s."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise TimeoutError("the app's own")

    with pytest.raises(TimeoutError, match="the app's own"):
        uvloop.run(CancelledTimeout(app, timeout=30)({"type": "http"}, None, None))
