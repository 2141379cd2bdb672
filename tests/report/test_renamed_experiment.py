"""The PR report's MLflow row after a PR renames ``mlflow.experiment`` (`make init NAME=...`
renames it with ``mlflow.model_name``): the base's run is found in the base's own experiment,
where it was logged, not reported as missing from the store."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from mlapp.params import load_params
from mlapp.report.run import mlflow_runs


def test_the_base_run_is_found_in_the_base_experiment(
    reference_project: Path, tmp_path: Path, monkeypatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    logged = {}
    for experiment, sha in (("churn", "a" * 64), ("churn-renamed", "b" * 64)):
        run = client.create_run(client.create_experiment(experiment), tags={"model.sha256": sha})
        client.set_terminated(run.info.run_id)
        logged[experiment] = run.info.run_id
    params = load_params(reference_project / "params.yaml")
    pr = params.model_copy(
        update={"mlflow": params.mlflow.model_copy(update={"experiment": "churn-renamed"})}
    )

    found = mlflow_runs(pr, {"base": ("churn", "a" * 64), "pr": ("churn-renamed", "b" * 64)})
    assert found == {"base": logged["churn"], "pr": logged["churn-renamed"]}
