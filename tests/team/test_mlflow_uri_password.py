"""A tracking URI with a password (``http://user:password@host``, which MLflow accepts) is never
printed by a pipeline that logs to it: MLflow's own "View run ... at: <URI>" lines would print it
whole into every `dvc repro` log, beside our redacted line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlapp.params import load_params
from tests.conftest import sh
from tests.team.conftest import require_env
from tests.team.test_mlflow_server import runs, team_project

pytestmark = pytest.mark.slow
PASSWORD = "s3cret-in-the-uri"  # noqa: S105 - what must never be printed


def test_evaluate_and_register_never_print_the_uris_password(trained_project: Path, tmp_path: Path) -> None:
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    url = shared.replace("://", f"://alice:{PASSWORD}@", 1)  # a server without auth ignores them
    root, env = team_project(trained_project, tmp_path / "p", url)
    logged = sh("dvc", "repro", "-f", "-s", "evaluate", cwd=root, env=env)
    registered = sh("mlapp", "pipeline", "register", cwd=root, env=env)
    out = logged.stdout + logged.stderr + registered.stdout + registered.stderr
    experiment = load_params(root / "params.yaml").mlflow.experiment
    assert [r.info.status for r in runs(shared, experiment)] == ["FINISHED"]  # it did log there
    assert "MLflow run " in out and "at http://***@" in out, out
    assert PASSWORD not in out, out
