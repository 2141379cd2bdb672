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
