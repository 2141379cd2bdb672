"""`make tune` with a tiny budget: trials tracked as MLflow child runs, a reviewable params diff."""

from __future__ import annotations

import re

import pytest
from mlflow.tracking import MlflowClient

from mlapp.params import load_params
from tests.conftest import copy_project, sh

pytestmark = pytest.mark.slow


def test_make_tune_tracks_every_trial_and_proposes_a_params_diff(
    trained_project, tmp_path, monkeypatch
) -> None:
    root = copy_project(trained_project, tmp_path / "p")
    store = f"sqlite:///{tmp_path / 'tune.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    # Without the test set the search cannot have used it.
    (root / load_params(root / "params.yaml").split.test).unlink()
    before = (root / "params.yaml").read_text()

    # RUN= and UV=true: this environment's mlapp on PATH, no second `uv sync` in the copy.
    out = sh("make", "--no-print-directory", "tune", "TRIALS=3", "RUN=", "UV=true", cwd=root).stdout
    assert "3 trials" in out
    assert "then `uv run dvc repro` and open a pull request" in out, out  # README's command, not bare dvc

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("mlapp")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mlapp.kind") == "tune"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 3 and all("valid_roc_auc" in r.data.metrics for r in children)

    after = (root / "params.yaml").read_text()
    diff = sh("git", "diff", "--unified=0", "params.yaml", cwd=root).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    # Only train.xgboost values change; every comment line of the file survives.
    assert changed and all(line[1:].startswith("    ") for line in changed), diff
    assert [line for line in before.splitlines() if "#" in line and ":" not in line.split("#")[0]] == [
        line for line in after.splitlines() if "#" in line and ":" not in line.split("#")[0]
    ]
    params = load_params(root / "params.yaml")
    best = parents[0].data.params
    assert str(params.train.xgboost.max_depth) == best["best.max_depth"]


def test_a_search_that_finds_nothing_better_proposes_no_change(
    trained_project, tmp_path, monkeypatch
) -> None:
    """Trial 0 scores params.yaml's own values. Before, every trial was a random draw, so one
    trial always rewrote params.yaml, however much worse its draw scored than the values it replaced."""
    root = copy_project(trained_project, tmp_path / "p")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'tune.db'}")
    before = (root / "params.yaml").read_text()
    out = sh("make", "--no-print-directory", "tune", "TRIALS=1", "RUN=", "UV=true", cwd=root).stdout
    assert (root / "params.yaml").read_text() == before, out
    assert "no change: the current values are the best found" in out
    assert "open a pull request" not in out, out  # nothing to review
    best, current = re.search(r"best validation roc_auc (\S+) \(the current values: (\S+)\)", out).groups()
    assert best == current, out
