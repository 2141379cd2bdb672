"""Turns: the steps of the requests in flight take turns on the event loop, a slice per pass."""

from __future__ import annotations

import asyncio
from collections.abc import Generator

import pytest

from mlapp.serving.turns import Turns

ONE_STEP = 1e-9  # a slice every step overruns: exactly one step per pass of the loop
WHOLE = 60.0  # a slice no test overruns: every step in one pass


def request(name: str, steps: int, log: list[str]) -> Generator[None, None, str]:
    try:
        for _ in range(steps):
            log.append(name)
            yield
        log.append(name)
    finally:
        log.append(f"{name} closed")
    return f"{name} done"


def test_steps_go_round_robin_and_each_request_gets_its_own_answer() -> None:
    log: list[str] = []

    async def main() -> list[str]:
        turns: Turns[str] = Turns(WHOLE)
        return await asyncio.gather(
            *(turns.run(request(n, k, log)) for n, k in (("a", 2), ("b", 0), ("c", 1)))
        )

    assert asyncio.run(main()) == ["a done", "b done", "c done"]
    assert log == ["a", "b", "b closed", "c", "a", "c", "c closed", "a", "a closed"]


def test_the_loop_polls_between_slices_not_after_every_request_in_flight() -> None:
    """What else runs on the loop (a health probe: a few passes) waits for about one step per
    pass, not for a step of every request in flight (here 20 requests of 50 steps)."""
    log: list[str] = []

    async def main() -> tuple[int, int]:
        turns: Turns[str] = Turns(ONE_STEP)
        flight = [asyncio.ensure_future(turns.run(request(str(i), 50, log))) for i in range(20)]
        await asyncio.sleep(0)  # every request has queued its steps
        before = len(log)
        for _ in range(3):  # three passes of the loop, as a probe needs
            await asyncio.sleep(0)
        during = len(log) - before
        await asyncio.gather(*flight)
        return during, len(log)

    during, total = asyncio.run(main())
    assert during <= 3
    assert total == 20 * 52


def test_a_refusal_raises_in_its_request_and_the_others_finish() -> None:
    log: list[str] = []

    def refused() -> Generator[None, None, str]:
        yield
        raise ValueError("row 3: age must be >= 18")

    async def main() -> tuple[BaseException | str, ...]:
        turns: Turns[str] = Turns(ONE_STEP)
        return tuple(
            await asyncio.gather(
                turns.run(refused()), turns.run(request("a", 3, log)), return_exceptions=True
            )
        )

    failed, answered = asyncio.run(main())
    assert isinstance(failed, ValueError) and answered == "a done"


def test_a_cancelled_request_stops_stepping_and_is_closed() -> None:
    """BentoML's request timeout cancels the request's task: its remaining steps never run."""
    log: list[str] = []

    async def main() -> str:
        turns: Turns[str] = Turns(ONE_STEP)
        slow = asyncio.ensure_future(turns.run(request("slow", 1000, log)))
        other = asyncio.ensure_future(turns.run(request("other", 5, log)))
        for _ in range(4):
            await asyncio.sleep(0)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await other

    assert asyncio.run(main()) == "other done"
    assert "slow closed" in log and log.count("slow") < 10
