"""Every DVC experiment logs a run to the project's store, named and tagged after it.

Queued experiments run in temporary copies of the repository that DVC throws away: a
relative `sqlite:///mlflow.db` must still mean the project's file (anchored at DVC_ROOT).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from mlapp.params import MlflowParams
from tests.conftest import copy_project, sh

pytestmark = pytest.mark.slow


def experiment_runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mlapp")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def stop_workers(root: Path) -> None:
    """Kill queue workers still running in ``root``: a worker stops when a shutdown message
    reaches it, and DVC's message queue loses one now and then, leaving it running for ever."""
    for proc in psutil.process_iter(["cwd"]):
        if proc.info["cwd"] and Path(proc.info["cwd"]).is_relative_to(root):
            with contextlib.suppress(psutil.NoSuchProcess):  # it may end meanwhile
                for each in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        each.kill()


def test_relative_sqlite_is_anchored_at_the_dvc_root(monkeypatch, tmp_path) -> None:
    params = MlflowParams(tracking_uri="sqlite:///mlflow.db", experiment="e", model_name="m")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert params.resolved_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////abs/store.db")
    assert params.resolved_tracking_uri() == "sqlite:////abs/store.db"  # absolute stays as given


@pytest.mark.timeout(600)  # three trainings, two at once, after the trained project's own
def test_workspace_and_parallel_queued_experiments_are_tracked(
    trained_project, tmp_path, monkeypatch
) -> None:
    root = copy_project(trained_project, tmp_path / "p")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the params.yaml default: sqlite:///mlflow.db
    before = len(experiment_runs(root))

    sh("dvc", "exp", "run", "-n", "ws-depth4", "-S", "train.xgboost.max_depth=4", cwd=root)
    for depth in (3, 6):
        sh("dvc", "exp", "run", "--queue", "-n", f"q-depth{depth}", "-S", f"train.xgboost.max_depth={depth}",
           cwd=root)  # fmt: skip
    try:
        # Its workers keep running after it returns: their output goes to a file, not to pipes
        # the call would wait on until they exit.
        sh("dvc", "queue", "start", "-j", "2", cwd=root, log=tmp_path / "queue.log")
        deadline = time.monotonic() + 300
        while True:
            status = sh("dvc", "queue", "status", cwd=root).stdout
            if "Queued" not in status and "Running" not in status:
                break
            assert time.monotonic() < deadline, status
            time.sleep(2)
    finally:
        stop_workers(root)
    assert status.count("Success") == 2, status + sh("dvc", "queue", "logs", "q-depth3", cwd=root).stdout

    runs = experiment_runs(root)
    assert len(runs) == before + 3
    names = {r.data.tags.get("dvc.exp_name") for r in runs}
    assert {"ws-depth4", "q-depth3", "q-depth6"} <= names
    by_name = {r.data.tags.get("dvc.exp_name"): r for r in runs}
    assert by_name["q-depth6"].data.params["train.xgboost.max_depth"] == "6"
    assert by_name["q-depth3"].info.run_name == "q-depth3"
    shown = json.loads(sh("dvc", "exp", "show", "--json", cwd=root).stdout)
    assert "q-depth6" in json.dumps(shown)
