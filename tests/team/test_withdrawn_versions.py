"""An alias never moves to a version whose run was deleted or whose model files are gone.

Against the PostgreSQL-backed server: ``models:/<name>@<alias>`` of such a version would load a
withdrawn model (a deleted run's logged model keeps its files) or fail every load (files gone).
One model upload (the project's run, logged once by `track`); the versions are made from it.
"""

from __future__ import annotations

import uuid

import mlflow.pyfunc
import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from mlapp.delivery import ops
from mlapp.delivery.state import StateError
from mlapp.lineage import identity
from mlapp.params import load_params
from mlapp.registry import Unservable, set_alias, versions_of
from tests.conftest import in_process, sh
from tests.team.test_mlflow_server import alias_version, server, team_project

pytestmark = pytest.mark.slow
__all__ = ["server"]  # a fixture, used by name


def test_no_alias_moves_to_a_withdrawn_version(server, trained_project, tmp_path) -> None:
    root, env = team_project(trained_project, tmp_path / "p", server)
    sh("mlapp", "pipeline", "track", cwd=root, env=env)
    params = load_params(root / "params.yaml").mlflow
    client = MlflowClient(server, server)
    experiment = client.get_experiment_by_name(params.experiment)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    (logged,) = run.outputs.model_outputs
    # Version 1: the current model, tagged as the image's, registered from a run since deleted.
    throwaway = client.create_run(experiment.experiment_id).info.run_id
    model = f"models:/{logged.model_id}"
    client.create_registered_model(params.model_name)
    tags = {**identity(root / "models"), "image.digest": "sha256:one"}
    client.create_model_version(params.model_name, model, throwaway, tags, model_id=logged.model_id)
    client.delete_run(throwaway)

    # accept (after a promote or a rollback to that image) does not move the alias there.
    with pytest.raises(Unservable) as refused:
        ops.move_alias(params, "production", "sha256:one")
    said = str(refused.value)
    where = f"'production' of registered model {params.model_name!r} at version 1"
    assert f"not pointing {where}: its run {throwaway} is deleted" in said, said
    assert f"mlflow runs restore --run-id {throwaway}" in said and "mlapp pipeline register" in said, said
    assert client.get_registered_model(params.model_name).aliases == {}
    # track --alias passes it over: a version of the current model from the live run gets the alias.
    code, said = in_process(root, env, "pipeline", "track", "--alias", "staging")
    assert code == 0, said
    assert alias_version(params, "staging") == "2"
    assert client.get_model_version(params.model_name, "2").run_id == run.info.run_id

    # The logged model's files go (a bucket's lifecycle rule, a hand clean-up): every load fails...
    get_artifact_repository(client.get_logged_model(logged.model_id).artifact_location).delete_artifacts()
    with pytest.raises(MlflowException, match="MLmodel"):
        mlflow.pyfunc.load_model(f"models:/{params.model_name}@staging")
    # ...so no alias moves to a version of it, and register makes none.
    with pytest.raises(
        Unservable, match=rf"at version 2: its model files \(run {run.info.run_id}\) are gone"
    ):
        set_alias(client, params.model_name, "production", "2")
    code, said = in_process(root, env, "pipeline", "register", "--alias", "production")
    assert code != 0, said
    line = said.splitlines()[-1]
    assert line.startswith(f"error: nothing registered: the model files of run {run.info.run_id} are gone"), (
        line
    )
    assert f"mlflow runs delete --run-id {run.info.run_id}" in line, line
    assert sorted(v.version for v in client.search_model_versions(versions_of(params.model_name))) == [
        "1",
        "2",
    ]
    assert client.get_registered_model(params.model_name).aliases == {"staging": "2"}


def test_accept_after_a_rename_names_the_old_models_version(server, trained_project, tmp_path) -> None:
    """A rollback to an image registered before ``mlflow.model_name`` was renamed: its version is
    the old name's. accept said to register it, which tags the current checkout's model with that
    image's digest; it names the old version and copies it over instead. No model is uploaded."""
    client = MlflowClient(server, server)
    old, new = f"mlapp's-{uuid.uuid4().hex[:10]}", f"mlapp-{uuid.uuid4().hex[:10]}"  # ' broke the hint
    experiment = client.create_experiment(old)
    run_id = client.create_run(experiment).info.run_id
    digest = f"sha256:{uuid.uuid4().hex}"
    client.create_registered_model(old)
    client.create_model_version(old, f"runs:/{run_id}/model", run_id, {"image.digest": digest})
    params = load_params(trained_project / "params.yaml").mlflow.model_copy(update={"model_name": new})

    with pytest.raises(StateError) as refused:
        ops.move_alias(params, "production", digest)
    said = str(refused.value)
    untagged = f"no version of registered model {new!r} is tagged image.digest={digest}"
    assert f"{untagged}; version 1 of registered model {old!r} is (was mlflow.model_name renamed?)" in said
    command = said.split("(`", 1)[1].rsplit("`), and run this again", 1)[0]
    assert command.startswith("uv run python -c "), said
    # what the line says to run, by bash as pasted (`uv run`: this environment's python, first on PATH)
    sh("bash", "-c", command.removeprefix("uv run "), cwd=tmp_path)
    assert client.get_model_version(new, "1").tags["image.digest"] == digest
