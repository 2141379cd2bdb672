"""A tracking server that answers `connect`'s first call with a 5xx: a proxy whose backend is
down or restarting (502, 503), a server failing every call (500). MLflow retries those answers
on every other call; the first call is retried the same way, and one still failing says so in
one line, never "is it an MLflow server's URL?".

The server is the shared `mlflow server` (MLAPP_TEST_MLFLOW_SERVER) behind a real proxy that
answers the first requests of a path with the status, then passes them on: which requests fail
is decided by counting them, never by timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlapp.params import load_params
from mlapp.tracking import PROBE
from tests.conftest import in_process
from tests.team.conftest import require_env
from tests.team.test_mlflow_refusals import nothing_logged, proxy, refused, register
from tests.team.test_mlflow_server import team_project

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("status", "body"), [(500, b"Internal Server Error"), (503, b"upstream connect error")]
)
def test_a_server_failing_the_first_call_on_every_try_says_so_and_what_to_do(
    status: int, body: bytes, trained_project: Path, tmp_path: Path
) -> None:
    """Before: one try, then "answered … with 503: …: is it an MLflow server's URL?", which sent
    a team checking a URL that was right while their server restarted."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, (PROBE,), status, body) as url:
        root, line = register(trained_project, tmp_path, url)
    assert line == (
        f"error: MLflow tracking server {url} answered {PROBE} with {status}: {body.decode()} on each "
        "of 3 tries: it, or a proxy in front of it, is failing (its log says why). Run this again "
        "when it answers; MLFLOW_HTTP_REQUEST_MAX_RETRIES (1 now) sets how often a call is retried."
    )
    nothing_logged(root, shared)


def test_a_server_back_within_the_retries_registers(trained_project: Path, tmp_path: Path) -> None:
    """A proxy answering 502 twice (its backend restarting), then the server: registering waits
    for it as MLflow's own calls do (backoffs 0 and 4 s). Before: the first 502 failed it."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, (PROBE,), 502, b"Bad Gateway", first=2) as url:
        root, env = team_project(trained_project, tmp_path / "p", url)
        code, said = in_process(root, {**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4"}, "pipeline", "register",
                                "--alias", "staging")  # fmt: skip
    assert code == 0, said
    name = load_params(root / "params.yaml").mlflow.model_name
    assert MlflowClient(shared, shared).get_model_version_by_alias(name, "staging").version == "1"


def test_a_server_failing_every_try_mid_stage_names_the_status_and_keeps_the_metrics(
    trained_project: Path, tmp_path: Path
) -> None:
    """It answers `connect`, then 503 to every try of runs/create (a proxy whose backend went
    away). Before: "failed while starting a run (MlflowException)", the status left out."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, ("/api/2.0/mlflow/runs/create",), 503, b"Service Unavailable") as url:
        root, output = refused(trained_project, tmp_path, url, "pipeline", "evaluate")
    assert output.strip().splitlines()[-1] == (
        f"error: MLflow tracking server {url} failed while starting a run (too many 503 error "
        "responses); this stage wrote no outputs. Re-run it when the server answers (`uv run dvc repro`)."
    )
    metrics = load_params(root / "params.yaml").evaluate.metrics
    assert (root / metrics).read_bytes() == (trained_project / metrics).read_bytes()
    nothing_logged(root, shared)
