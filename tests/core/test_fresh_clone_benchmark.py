"""benchmarks/fresh_clone.py summarises rounds in which a target failed: a round stops at its first
failed target, so a later target is missing from it, and the rounds already timed are still written."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.conftest import REPO


@pytest.fixture
def summary(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its `from revisions import ...`
    import fresh_clone

    yield fresh_clone.summary
    sys.modules.pop("fresh_clone", None)


def test_a_last_round_stopped_early_keeps_the_rounds_before(summary: Any) -> None:
    ok = {"wall_s": 20.0, "exit": 0, "pytest": None}
    tests = {"wall_s": 160.0, "exit": 0, "pytest": "2340 passed"}
    rounds = [{"run": ok, "test-fast": tests}, {"run": {**ok, "exit": 2, "pytest": None}}]
    got = summary(rounds, ["run", "test-fast"])
    assert got["run"]["ok_rounds"] == 1
    assert got["test-fast"] == {
        "median_s": 160.0, "min_s": 160.0, "max_s": 160.0, "ok_rounds": 1, "pytest": "2340 passed",
    }  # fmt: skip


def test_a_failed_last_round_does_not_name_its_counts(summary: Any) -> None:
    passed = {"wall_s": 160.0, "exit": 0, "pytest": "2340 passed"}
    failed = {"wall_s": 90.0, "exit": 1, "pytest": "1 failed, 2339 passed"}
    got = summary([{"test-fast": passed}, {"test-fast": failed}], ["test-fast"])
    assert got["test-fast"]["pytest"] == "2340 passed"  # the counts of a round it times
