"""The serving benchmarks leave the project's prediction log alone: their synthetic traffic in
logs/predictions.jsonl would be read by `mlapp monitor run --source logs/predictions.jsonl`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, sh
from tests.serving.conftest import PARAMS


def test_serving_stack_benchmark_logs_predictions_outside_the_project(
    serving_root: Path, tmp_path: Path
) -> None:
    # Only what the service reads: other workers' servers write logs into serving_root while
    # a whole-tree copy runs (a file vanishing mid-copy fails it).
    project = tmp_path / "project"
    shutil.copytree(serving_root / PARAMS.train.model_dir, project / PARAMS.train.model_dir)
    (project / PARAMS.evaluate.metrics).parent.mkdir(parents=True)
    for name in ("params.yaml", PARAMS.evaluate.metrics):
        shutil.copy(serving_root / name, project / name)
    env = {
        "MLAPP_MODEL_DIR": str(project / PARAMS.train.model_dir),
        "MLAPP_PARAMS": str(project / "params.yaml"),
    }
    bench = REPO / "benchmarks" / "serving_stack.py"
    sh(
        sys.executable,
        bench,
        "--rounds",
        "1",
        "--requests",
        "20",
        "--out",
        tmp_path / "out",
        cwd=project,
        env=env,
    )
    assert (tmp_path / "out" / "serving_stack.json").is_file()
    assert not (project / PARAMS.serving.log_path).exists()


@pytest.mark.parametrize("script", ["probe_cost.py", "probe_flood.py"])
def test_probe_benchmarks_help_says_where_they_write(script: str) -> None:
    # --out defaults to the committed results docs/serving.md quotes: a trial run that does not
    # know it overwrites them, so --help says it and how to keep them.
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = " ".join(done.stdout.split())
    assert "benchmarks/results" in out and "--out .bench" in out, out
