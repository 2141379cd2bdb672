"""benchmarks/pipeline_flood.py's parts that need no server: its options and what the result says
was run, the worker it measures in a process tree, the summary of runs (spreads, baseline /
current per measure and per repeat) and its Markdown table."""

from __future__ import annotations

import runpy
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from tests.conftest import REPO


@pytest.fixture
def bench(monkeypatch) -> dict[str, Any]:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    return runpy.run_path(str(REPO / "benchmarks" / "pipeline_flood.py"))


def run(start: float, peak: float, after: float, written: int, read: int) -> dict[str, Any]:
    rss = {"start_mb": start, "peak_mb": peak, "after_mb": after}
    return rss | {"requests_written": written, "answers_read": read, "samples": [[0.0, start]]}


def test_defaults_are_a_small_flood_and_the_result_says_what_ran(bench: dict[str, Any]) -> None:
    args = bench["parse_args"](["--baseline", "7f5bc61"])
    ran = bench["what_ran"](args)
    assert (ran["connections"], ran["seconds"], ran["after_s"], args.repeats) == (100, 5.0, 3.0, 2)
    assert ran["variants"] == ["unread", "read"] and ran["workers"] == 1
    assert ran["request"] == "GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    chosen = bench["parse_args"](
        ["--connections", "7", "--seconds", "1.5", "--variants", "read", "--port", "3850"]
    )
    assert (chosen.connections, chosen.seconds, chosen.variants, chosen.port) == (7, 1.5, ["read"], 3850)
    # A partly sent write goes on from where it stopped: only whole requests, back to back.
    assert len(bench["WRITE"]) % len(bench["REQUEST"]) == 0


@pytest.mark.parametrize("argv", [["--connections", "0"], ["--seconds", "0"], ["--variants", "slow"]])
def test_an_empty_flood_is_refused(bench: dict[str, Any], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench["parse_args"](argv)
    assert exc.value.code == 2


def test_the_worker_is_the_servers_process_without_children(bench: dict[str, Any]) -> None:
    fork = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nelse:\n    time.sleep(60)"
    leader = subprocess.Popen([sys.executable, "-c", fork])
    try:
        deadline = time.monotonic() + 30
        while not (children := psutil.Process(leader.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bench["worker_pid"](leader.pid) == children[0].pid != leader.pid
    finally:
        for child in psutil.Process(leader.pid).children():
            child.kill()
        leader.kill()
        leader.wait()


def test_a_runs_rss_is_its_first_sample_its_largest_and_its_last(bench: dict[str, Any]) -> None:
    samples = [(0.0, 164.0), (0.5, 900.0), (1.0, 1320.0), (5.5, 1250.0), (8.5, 1240.0)]
    assert bench["rss"](samples) == {"start_mb": 164.0, "peak_mb": 1320.0, "after_mb": 1240.0}


def test_summary_gives_spreads_and_baseline_over_current(bench: dict[str, Any]) -> None:
    runs = {
        "current": [run(160, 250, 240, 1000, 0), run(170, 270, 250, 3000, 0)],
        "baseline": [run(160, 1000, 900, 2000, 0), run(170, 1350, 1000, 3000, 0)],
    }
    out = bench["summary"](runs)
    current, baseline = out["systems"]["current"], out["systems"]["baseline"]
    assert current["peak_mb"] == {"median": 260, "min": 250, "max": 270}
    assert baseline["after_mb"] == {"median": 950, "min": 900, "max": 1000}
    assert current["runs"] == runs["current"]
    ratio = out["baseline_over_current"]
    assert ratio["peak_mb"]["of_medians"] == round(1175 / 260, 3)
    assert ratio["peak_mb"]["per_repeat"] == {"median": 4.5, "min": 4.0, "max": 5.0}  # repeat by repeat
    assert ratio["requests_written"]["per_repeat"] == {"median": 1.5, "min": 1.0, "max": 2.0}
    assert ratio["answers_read"] == {"of_medians": None, "per_repeat": None}  # none read: no ratio
    assert "baseline_over_current" not in bench["summary"]({"current": runs["current"]})


def test_markdown_has_a_table_per_variant_with_the_ratios(bench: dict[str, Any]) -> None:
    args = bench["parse_args"](["--connections", "200", "--seconds", "10"])
    runs = {"current": [run(164, 258, 246, 10, 0)], "baseline": [run(225, 1320, 1300, 10, 0)]}
    result = {
        "flood": bench["what_ran"](args),
        "repeats": 1,
        "variants": {
            "unread": bench["summary"](runs),
            "read": bench["summary"]({"current": runs["current"]}),
        },
        "machine": {"load_before": [1.0, 2.0, 3.0], "load_after": [2.0, 2.0, 3.0]},
    }
    text = bench["markdown"](result)
    assert text.startswith("200 connections pipelining `GET /livez HTTP/1.1` for 10 s, one worker")
    assert "| peak_mb | 258 (258-258) | 1320 (1320-1320) | 5.12x (5.12-5.12) |" in text
    assert "| answers_read | 0 (0-0) | 0 (0-0) | - |" in text
    assert "**read**" in text and "| peak_mb | 258 (258-258) |\n" in text
    assert text.endswith("before 1.0, 2.0, 3.0; after 2.0, 2.0, 3.0")
