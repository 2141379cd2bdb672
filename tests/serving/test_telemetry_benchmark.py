"""benchmarks/telemetry.py compares the two ways to record scores side by side: alternating, round
by round, with the speedup's spread (one timing each said little on this shared machine)."""

from __future__ import annotations

import runpy

import pytest

from tests.conftest import REPO


def test_the_two_paths_alternate_and_the_speedup_has_its_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    side_by_side = runpy.run_path(str(REPO / "benchmarks" / "telemetry.py"))["side_by_side"]
    calls: list[str] = []
    result = side_by_side(lambda: calls.append("public"), lambda: calls.append("bulk"), 2, 3)
    assert calls == [
        "public",
        "public",
        "bulk",
        "bulk",
        "bulk",
        "bulk",
        "public",
        "public",
        "public",
        "public",
        "bulk",
        "bulk",
    ]
    assert [r["first"] for r in result["rounds"]] == [
        "observe_per_value_us",
        "bulk_us",
        "observe_per_value_us",
    ]
    speedups = [r["observe_per_value_us"] / r["bulk_us"] for r in result["rounds"]]
    assert result["speedup"] == {"median": sorted(speedups)[1], "min": min(speedups), "max": max(speedups)}
