"""Registering the trained model under names and aliases MLflow does and does not accept.

The model, params.yaml and the metrics come from ``reference_project`` (the stages run in-process)
and the store from ``mlflow_store`` (its tables made): registering reads nothing else, so no test
here waits for a ``dvc repro`` or MLflow's migrations."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlapp import registry
from mlapp.errors import UserError
from mlapp.params import load_params
from tests.conftest import copy_project


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
