"""`mlapp pipeline track` and `register` whose own tracking server is killed while they log the
model's run: one line that says what is true of that command (they are no DVC stage: evaluate's
"this stage wrote no outputs ... `dvc repro`" was wrong for them), and a re-run does it.

Both commands are held (tests/holding.py) once their runs exist, before they log anything; the
server dies in that window, so what fails, and when, never depends on timing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from mlapp.params import load_params
from mlapp.registry import versions_of
from tests.conftest import BIN, sh
from tests.team.conftest import require_env
from tests.team.test_mlflow_server import killed_while_logging, own_server, team_project

pytestmark = pytest.mark.slow

SAID = {
    "track": "no complete run of this model was logged (one cut short is never reused). "
    "Run `mlapp pipeline track` again when the server answers.",
    "register": "nothing was registered (a run cut short is never reused). "
    "Run `mlapp pipeline register` again when the server answers.",
}


def test_a_server_killed_while_the_run_is_logged_says_what_this_command_left(
    trained_project: Path, tmp_path: Path
) -> None:
    """Both commands, each in a project of its own names, held together on one server killed once."""
    postgres = require_env("MLAPP_TEST_POSTGRES_URL", "PostgreSQL for a killable `mlflow server`")
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on the same PostgreSQL")
    argv = {command: [str(BIN / "mlapp"), "pipeline", command, "--alias", "staging"] for command in SAID}
    with own_server(postgres, tmp_path / "artifacts", tmp_path / "server.log") as (url, proc):
        projects = {command: team_project(trained_project, tmp_path / command, url) for command in SAID}
        commands = [(argv[command], root, env) for command, (root, env) in projects.items()]
        ended = dict(zip(SAID, killed_while_logging(commands, proc, tmp_path), strict=True))
    client = MlflowClient(shared, shared)
    for command, (status, output) in ended.items():
        assert status == 2, f"{command}: {output}"
        assert "Traceback" not in output, f"{command}: {output}"
        line = output.splitlines()[-1]
        failed = rf"error: MLflow tracking server {re.escape(url)} failed while logging run \w+ \(\w+\); "
        assert re.fullmatch(failed + re.escape(SAID[command]), line), f"{command}: {line}"
        # What it left, read through the shared server on the same database: a run that never
        # finished (never reused), no registered model, no alias.
        root, env = projects[command]
        params = load_params(root / "params.yaml").mlflow
        experiment = client.get_experiment_by_name(params.experiment)
        assert experiment is not None, command
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status != RunStatus.to_string(RunStatus.FINISHED), f"{command}: {run.info}"
        assert client.search_model_versions(versions_of(params.model_name)) == [], command
        # The server is back: the re-run does it.
        sh(*argv[command], cwd=root, env={**env, "MLFLOW_TRACKING_URI": shared})
        assert client.get_model_version_by_alias(params.model_name, "staging").version == "1", command
