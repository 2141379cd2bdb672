"""How many times MLflow asks a tracking server that went away mid-command, and what is said then.

A proxy in front of the shared `mlflow server` (MLAPP_TEST_MLFLOW_SERVER) forwards every request
until the first one to a given API path, then answers that one and every later one 502 as a
reverse proxy does once its backend is gone, counting them: what fails, and when, is decided by
the requests, never by timing.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlapp import tracking, tracking_failures, tracking_timeouts
from mlapp.params import load_params
from mlapp.registry import versions_of
from tests.conftest import answering, in_process
from tests.team.conftest import require_env
from tests.team.test_mlflow_server import team_project

API = "/api/2.0/mlflow"


@contextmanager
def dies_at(upstream: str, at: str) -> Iterator[tuple[str, Counter[str]]]:
    """The proxy's URL, and the requests it refused by path (the server "gone" from the first
    request to ``at`` on)."""
    refused: Counter[str] = Counter()
    gone = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            if path == at:
                gone.set()
            if gone.is_set():
                refused[path] += 1
                status, content, kind = 502, b"Bad Gateway", "text/plain"
            else:
                answer = requests.request(
                    self.command, upstream + self.path, data=body, timeout=60,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                )  # fmt: skip
                status, content = answer.status_code, answer.content
                kind = answer.headers.get("Content-Type", "application/json")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url, refused


@pytest.mark.slow
def test_a_server_gone_mid_run_is_asked_five_times_per_call_and_once_to_mark_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, MLflow's default 7 retries per call, doubling up to 120 s apart: evaluate failed
    494 s after its server was killed (its logging call, then marking the run failed)."""
    upstream = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    monkeypatch.setenv(tracking_timeouts.RETRIES, "7")  # recorded: the delete is undone after
    monkeypatch.delenv(tracking_timeouts.RETRIES)  # what a user's shell has: MLflow's default
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")  # the same attempts, without the waits
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with dies_at(upstream, f"{API}/runs/log-metric") as (url, refused):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        tracking.connect(params.mlflow)
        tracking.use_experiment(f"mlapp-{uuid.uuid4().hex[:10]}")
        mlflow.start_run()
        with pytest.raises(MlflowException):
            mlflow.log_metric("roc_auc", 0.77)
        tracking_failures.end_failed()
    assert refused.pop(f"{API}/runs/log-metric") == 5  # the call and 4 retries
    assert sum(refused.values()) == 1, refused  # end_run's first request, not retried


@pytest.mark.slow
def test_a_server_gone_while_register_sets_an_alias_is_one_line_and_a_rerun_sets_it(
    trained_project: Path, tmp_path: Path
) -> None:
    """Before, MLflow's traceback (40 lines) after 8 tries of the alias and 8 of the check that
    follows a failed one."""
    upstream = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    root, env = team_project(trained_project, tmp_path / "p", upstream)
    del env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]  # what a user's shell has: MLflow's default
    env |= {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}
    register = ("pipeline", "register", "--alias", "staging")
    with dies_at(upstream, f"{API}/registered-models/alias") as (url, refused):
        code, said = in_process(root, {**env, "MLFLOW_TRACKING_URI": url}, *register)
    assert code == 2, said
    assert "Traceback" not in said, said  # MLflow's own lines come first: "Created version 1"
    assert said.splitlines()[-1] == (
        f"error: MLflow tracking server {url} failed while registering (too many 502 error responses); "
        "what it did before stays (a new registry version may lack its aliases; an alias moved or did "
        "not, whole). Run this again when the server answers."
    )
    assert refused.pop(f"{API}/registered-models/alias") == 5  # the call and 4 retries
    assert refused == {f"{API}/registered-models/get": 1}  # did another process set it? asked once
    code, said = in_process(root, env, *register)  # the server is back
    assert code == 0, said
    params = load_params(root / "params.yaml").mlflow
    client = MlflowClient(upstream, upstream)
    versions = client.search_model_versions(versions_of(params.model_name))
    assert sorted(int(v.version) for v in versions) == [1, 2]  # the first one lacks its alias
    assert client.get_model_version_by_alias(params.model_name, "staging").version == "2"
