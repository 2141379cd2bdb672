"""The per-worker budget of body bytes in flight (``serving.max_body_bytes_in_flight``).

``max_concurrency`` bounds requests, not bytes: 256 requests at the body cap (~1 MB each) took
the image to 770-807 MiB of its 1 GiB (benchmarks/body_burst.py). The budget bounds the bytes: a body
that would take the worker past it is a 429 with ``Retry-After`` naming the setting, and a
request's bytes go back on every path. Requests here go through the real ``PredictEndpoint``
with clients whose bodies arrive when the test says so (events, no clocks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from mlapp.errors import ParamsError
from mlapp.params import ServingParams
from mlapp.serving.admission import BodyBudget, BodyCap, Refused
from mlapp.serving.endpoint import PredictEndpoint
from mlapp.serving.settings import body_budget, body_cap
from tests.serving.conftest import PARAMS

CAP = BodyCap(10, 100, "params.yaml")  # 1,000 bytes
BUDGET = 2500  # two and a half bodies at the cap
BODY = b"x" * 1000
Counted = list[tuple[int, set[tuple[str, str]]]]  # what the endpoint counted: status, labels


class Scorer:
    """Answers once ``release`` is set; ``refuse`` makes it a 400 instead (an invalid body)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.refuse = False

    async def score_yielding(self, body: bytes) -> bytes:
        self.started.set()
        await self.release.wait()
        if self.refuse:
            raise Refused(400, "invalid_body", "not valid")
        return b'{"bytes": %d}' % len(body)


class Client:
    """One request: its headers at once, its body in the parts the test hands over."""

    def __init__(self, body: bytes, length: bool = True) -> None:
        self.parts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.answered = asyncio.Event()
        self.headers = [(b"content-type", b"application/json")]
        if length:
            self.headers.append((b"content-length", str(len(body)).encode()))

    def part(self, data: bytes, more: bool = True) -> None:
        self.parts.put_nowait({"type": "http.request", "body": data, "more_body": more})

    def leave(self) -> None:
        self.parts.put_nowait({"type": "http.disconnect"})

    async def receive(self) -> dict[str, Any]:
        return await self.parts.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body":
            self.answered.set()

    def start(self, endpoint: PredictEndpoint) -> asyncio.Task[None]:
        scope = {"type": "http", "method": "POST", "headers": self.headers}
        return asyncio.get_running_loop().create_task(endpoint(scope, self.receive, self.send))

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    def header(self, name: bytes) -> bytes | None:
        return dict(self.sent[0]["headers"]).get(name)

    def error(self) -> str:
        return str(json.loads(self.sent[1]["body"])["error"])


def endpoint(scorer: Scorer, counted: Counted, timeout_s: float = 30) -> PredictEndpoint:
    return PredictEndpoint(
        lambda: scorer,
        lambda status, labels: counted.append((status, labels)),
        CAP,
        timeout_s,
        BodyBudget(BUDGET),
    )


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def settle() -> None:
    """Let every ready task run until it waits for the test again."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_body_over_the_budget_is_429_from_its_length_and_the_bytes_come_back() -> None:
    async def test() -> None:
        scorer, counted = Scorer(), Counted()
        api = endpoint(scorer, counted)
        holding = [Client(BODY), Client(BODY)]
        tasks = [c.start(api) for c in holding]
        for client in holding:
            client.part(BODY[:10])  # headers and a first part: each holds its whole Content-Length
        await settle()
        assert api.budget.held == 2000
        over = Client(BODY)
        over.start(api)
        await over.answered.wait()
        assert over.status == 429
        assert over.header(b"retry-after") == b"1"
        assert over.header(b"connection") is None  # its body is dropped by the server: the connection stays
        assert over.error() == (
            "a body of 1,000 bytes would take this worker's request bodies in flight from 2,000 "
            "to 3,000 bytes, over serving.max_body_bytes_in_flight (2,500): retry after 1 s"
        )
        assert counted == [(429, {("body", "body_budget")})]
        small = Client(b"y" * 400)  # what still fits is admitted meanwhile
        small_task = small.start(api)
        small.part(b"y" * 400, more=False)
        for client in holding:
            client.part(BODY[10:], more=False)
        await settle()
        assert api.budget.held == 2400
        scorer.release.set()
        await asyncio.gather(*tasks, small_task)
        assert [c.status for c in (*holding, small)] == [200, 200, 200]
        assert api.budget.held == 0

    run(test)


def test_a_chunked_body_is_counted_as_it_arrives_and_cut_at_the_budget() -> None:
    async def test() -> None:
        scorer, counted = Scorer(), Counted()
        api = endpoint(scorer, counted)
        first, second = Client(BODY), Client(BODY, length=False)
        tasks = [first.start(api), second.start(api)]
        first.part(BODY[:10])
        await settle()
        second.part(BODY[:900])
        await settle()
        assert api.budget.held == 1900
        second.part(BODY[:700])  # 1,600 bytes: over the cap, a 413 (checked before the budget)
        await settle()
        assert second.status == 413 and api.budget.held == 1000
        third = Client(BODY, length=False)
        tasks.append(third.start(api))
        third.part(BODY)
        await settle()
        assert api.budget.held == 2000
        fourth = Client(BODY, length=False)
        tasks.append(fourth.start(api))
        fourth.part(BODY[:400])
        await settle()
        assert api.budget.held == 2400
        fourth.part(BODY[:200])  # 600 bytes of this request: 2,600 in all
        await fourth.answered.wait()
        assert fourth.status == 429 and fourth.header(b"connection") == b"close"
        assert "from 2,400 to 2,600 bytes, over serving.max_body_bytes_in_flight (2,500)" in fourth.error()
        assert api.budget.held == 2000
        first.part(BODY[10:], more=False)
        third.part(b"", more=False)
        scorer.release.set()
        await asyncio.gather(*tasks)
        assert api.budget.held == 0
        assert [c.status for c in (first, third)] == [200, 200]

    run(test)


@pytest.mark.parametrize("path", ["client_gone", "body_timeout", "invalid_body", "cancelled"])
def test_the_bytes_come_back_on_every_path(path: str) -> None:
    async def test() -> None:
        scorer, counted = Scorer(), Counted()
        scorer.refuse = path == "invalid_body"
        api = endpoint(scorer, counted, timeout_s=0 if path == "body_timeout" else 30)
        client = Client(BODY)
        task = client.start(api)
        client.part(BODY[:10])
        if path == "body_timeout":  # a deadline of 0: the body never arrives within it
            await task
            assert client.status == 408
        else:
            await settle()
            assert api.budget.held == 1000
        if path == "client_gone":
            client.leave()
            await task
            assert client.status == 499
        elif path == "invalid_body":
            client.part(BODY[10:], more=False)
            await scorer.started.wait()
            scorer.release.set()
            await task
            assert client.status == 400
        elif path == "cancelled":  # BentoML's traffic timeout (serving.timeout_s) cancels the request
            client.part(BODY[10:], more=False)
            await scorer.started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert api.budget.held == 0

    run(test)


def _serving(**changes: Any) -> ServingParams:
    return ServingParams.model_validate({**PARAMS.serving.model_dump(), **changes})


def test_a_budget_below_the_body_cap_is_refused_at_start_naming_both_settings() -> None:
    serving = _serving(max_row_bytes=2048, max_body_bytes_in_flight=2_000_000)
    with pytest.raises(ParamsError) as refused:
        body_budget(serving, body_cap(serving))
    message = str(refused.value)
    assert "serving.max_body_bytes_in_flight (2,000,000)" in message
    assert "body cap of 2,048,000 bytes" in message and "serving.max_row_bytes 2048" in message
    fits = _serving(max_row_bytes=2048, max_body_bytes_in_flight=2_048_000)
    assert body_budget(fits, body_cap(fits)).limit == 2_048_000


def test_the_shipped_budget_holds_a_body_at_the_cap() -> None:
    assert body_budget(PARAMS.serving, body_cap(PARAMS.serving)).limit >= body_cap(PARAMS.serving).limit
