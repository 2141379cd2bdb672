"""Registering the trained model under names and aliases MLflow does and does not accept.

The model, params.yaml and the metrics come from ``reference_project`` (the stages run in-process)
and the store from ``mlflow_store`` (its tables made): registering reads nothing else, so no test
here waits for a ``dvc repro`` or MLflow's migrations."""

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlapp import registry
from mlapp.errors import UserError
from mlapp.params import load_params
from tests.conftest import copy_project, sh


@pytest.mark.parametrize("alias", ["v1", "Latest", "a/b", ""])
def test_an_alias_mlflow_refuses_registers_nothing(
    alias: str, reference_project: Path, mlflow_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow checks an alias only when setting it: the version was created first, left unaliased."""
    monkeypatch.chdir(copy_project(reference_project, tmp_path / "p"))
    params = load_params()
    with pytest.raises(UserError, match=f"--alias '{alias}'"):
        registry.register(params, Path("models"), ["staging", alias], {})
    with pytest.raises(UserError, match=f"--alias '{alias}'"):
        registry.ensure_alias(params, Path("models"), alias)
    assert MlflowClient().search_model_versions(f"name = '{params.mlflow.model_name}'") == []


def test_a_model_name_with_a_quote_or_unicode_registers_and_is_found(
    reference_project: Path, mlflow_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with ' broke MLflow's search filter (a traceback before registering)."""
    monkeypatch.chdir(copy_project(reference_project, tmp_path / "p"))
    name = "team's churn ü"
    params = load_params()
    params = params.model_copy(update={"mlflow": params.mlflow.model_copy(update={"model_name": name})})
    assert registry.register(params, Path("models"), ["staging"], {}) == "1"
    assert registry.ensure_alias(params, Path("models"), "candidate") == "1"
    assert str(MlflowClient().get_model_version_by_alias(name, "candidate").version) == "1"


# Every character that broke the hint's command, quoted for the shell in double quotes: both
# quotes, ``$``, a backtick, a backslash; and what MLflow's models:/ URI still reads as the name.
HOSTILE = 'team\'s "churn" $HOME `id` \\ #@%41 ü'


def old_version(client: MlflowClient, name: str, digest: str) -> None:
    """Version 1 of registered model ``name``, tagged with image ``digest``: a rename's leftover."""
    run = client.create_run(client.create_experiment(f"e-{len(name)}")).info.run_id
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run}/model", run, {"image.digest": digest})


@pytest.mark.slow
@pytest.mark.parametrize("new", ["mlapp", f"{HOSTILE} v2"])
def test_the_rename_hints_copy_command_runs_as_pasted(new: str, mlflow_store: Path, tmp_path: Path) -> None:
    """The command the hint gives, run by bash as the user pastes it, copies the old name's version."""
    client = MlflowClient()
    old_version(client, HOSTILE, "sha256:ab")
    said = registry.untagged(client, new, "image.digest=sha256:ab")
    command = said.split("(`", 1)[1].rsplit("`), and run this again", 1)[0]
    assert command.startswith("uv run python -c "), said
    # `uv run` runs the project environment's python: this one is first on sh's PATH
    sh("bash", "-c", command.removeprefix("uv run "), cwd=tmp_path)
    assert client.get_model_version(new, "1").tags["image.digest"] == "sha256:ab"


def test_a_name_mlflow_copies_no_version_of_gets_the_register_hint(mlflow_store: Path) -> None:
    """``?`` starts the query of MLflow's models:/ URI, which its copy reads the source from."""
    client = MlflowClient()
    old_version(client, "churn?v1", "sha256:cd")
    with pytest.raises((MlflowException, ValueError)):  # MLflow 3.17: a ValueError, unpacking the path
        client.copy_model_version("models:/churn?v1/1", "mlapp")
    said = registry.untagged(client, "mlapp", "image.digest=sha256:cd")
    assert "copy_model_version" not in said
    assert said.endswith("with `mlapp pipeline register --tag image.digest=sha256:cd`"), said
