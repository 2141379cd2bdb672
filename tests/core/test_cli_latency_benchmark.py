"""benchmarks/cli_latency.py runs each command in this checkout and in a worktree of the baseline,
each with its own src/, the two alternating, and records a command that fails as failed (its exit
code and stderr's tail) instead of stopping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

# Fails on purpose, saying which mlapp it imported: the system's own src/ or not.
WHERE = "python -c 'import sys, mlapp; sys.exit(mlapp.__file__)'"


def benchmark(out: Path, *argv: str) -> dict[str, Any]:
    script = REPO / "benchmarks" / "cli_latency.py"
    done = subprocess.run(
        [sys.executable, script, "--baseline", "HEAD", *argv, "--out", out],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.slow
def test_both_systems_run_each_command_and_a_failure_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    only = ["--only", "help", "report gate", "--add", "where", WHERE]
    result = benchmark(out, "--repeats", "1", "--warmup", "0", *only)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    assert result["baseline"]["commit"] == head.stdout.strip()
    assert {"cpus", "python", "platform", "load_before", "load_after"} <= set(result["machine"])
    assert (result["systems"], result["orders"]) == (["current", "baseline"], [["current", "baseline"]])
    assert list(result["commands"]) == ["help", "report gate", "where"]

    for name in ("help", "report gate"):
        row = result["commands"][name]
        assert row["status"] == "ok", row
        for system in ("current", "baseline"):
            measured = row["systems"][system]
            assert [run["exit"] for run in measured["runs"]] == [0]
            assert measured["wall_s"]["median"] > 0 and measured["cpu_s"]["median"] > 0
        ratio = row["baseline_over_current_cpu"]
        assert ratio["of_medians"] > 0 and ratio["per_repeat"]["min"] == ratio["per_repeat"]["max"]

    where = result["commands"]["where"]
    assert where["status"] == "failed" and "baseline_over_current_wall" not in where
    runs = {system: measured["runs"] for system, measured in where["systems"].items()}
    assert [(run["exit"], run["stderr_tail"]) for run in runs["current"]] == [
        (1, [str(REPO / "src" / "mlapp" / "__init__.py")])
    ]
    [baseline_run] = runs["baseline"]
    imported = Path(baseline_run["stderr_tail"][-1])
    assert baseline_run["exit"] == 1 and imported.parts[-4:] == ("baseline", "src", "mlapp", "__init__.py")
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert str(imported.parents[2]) not in worktrees.stdout  # removed after the run
    assert "| where | failed | failed |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
def test_the_systems_alternate_and_the_warm_up_is_not_counted(tmp_path: Path) -> None:
    only = ["--only", "--add", "import", "python -c 'import mlapp.cli'"]  # no command of the list
    result = benchmark(tmp_path / "cli.json", "--repeats", "3", "--warmup", "1", *only)
    current, baseline = ["current", "baseline"], ["baseline", "current"]
    assert result["orders"] == [current, baseline, current]
    row = result["commands"]["import"]
    runs = {system: measured["runs"] for system, measured in row["systems"].items()}
    assert [len(runs["current"]), len(runs["baseline"])] == [3, 3]
    pairs = zip(runs["baseline"], runs["current"], strict=True)
    ratios = sorted(round(b["cpu_s"] / c["cpu_s"], 3) for b, c in pairs)
    spread = row["baseline_over_current_cpu"]["per_repeat"]
    assert (spread["min"], spread["median"], spread["max"]) == tuple(ratios)


# README's baseline: its monitor.json is schema version 2, this checkout's a later one.
README_BASELINE = "a33737e"


@pytest.mark.slow
def test_each_system_reads_the_monitor_report_its_own_code_wrote(tmp_path: Path) -> None:
    known = subprocess.run(["git", "cat-file", "-e", f"{README_BASELINE}^{{commit}}"], cwd=REPO, check=False)
    if known.returncode != 0:
        pytest.skip(f"{README_BASELINE} is not in this clone's history (a shallow clone)")
    script = REPO / "benchmarks" / "cli_latency.py"
    out = tmp_path / "cli.json"
    argv = ["--baseline", README_BASELINE, "--only", "monitor metrics", "--repeats", "1", "--warmup", "0"]
    done = subprocess.run(
        [sys.executable, script, *argv, "--out", out],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())["commands"]["monitor metrics"]
    assert row["status"] == "ok", json.dumps(row["systems"], indent=1)
    assert row["baseline_over_current_cpu"]["of_medians"] > 0
