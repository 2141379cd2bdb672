"""The serving benchmarks leave the project's prediction log alone: their synthetic traffic in
logs/predictions.jsonl would be read by `mlapp monitor run --source logs/predictions.jsonl`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

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
