"""`mlapp pipeline register` and `evaluate` refused, or never answered, before a run is logged:
one line saying what failed and what to fix, exit 2, and no run logged for nothing.

Each server is real: a closed port, an http server answering 401, the shared `mlflow server`
(MLAPP_TEST_MLFLOW_SERVER) behind a proxy that answers its registry's paths 401/403/404 or
stops answering at a given path (a socket that accepts and never replies), and an `mlflow server`
of our own started with its registry off. Which request fails is decided by its path, never by
timing; a never-answering server is waited for 1 s (MLFLOW_HTTP_REQUEST_TIMEOUT, set here).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlapp.params import load_params
from mlapp.params_train import MODEL_NAME_MAX
from mlapp.serving.local import free_port
from tests.conftest import answering, in_process
from tests.team.conftest import require_env
from tests.team.test_mlflow_server import own_server, runs, team_project

pytestmark = pytest.mark.slow
REGISTRY = ("/api/2.0/mlflow/registered-models/", "/api/2.0/mlflow/model-versions/")
REFUSED = "refused this client's model registry call"
NEVER = 0  # a status that means: accept the request and never answer it


@contextmanager
def proxy(
    upstream: str | None, paths: tuple[str, ...], status: int, body: bytes = b"", first: int | None = None
) -> Iterator[str]:
    """A proxy to ``upstream`` that answers ``status`` (or, ``NEVER``, nothing) to every request
    whose path starts with one of ``paths`` (with ``first``, to that many of them, then passes them
    on: a server back after a restart); with no upstream, to every request."""
    released = threading.Event()
    answered = iter(range(first)) if first is not None else None
    count = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            matched = upstream is None or self.path.startswith(paths)
            if matched and answered is not None:
                with count:
                    matched = next(answered, None) is not None
            if matched:
                if status == NEVER:
                    released.wait()  # until the test ends: the client's timeout decides
                    return
                answer, kind = (status, body), "text/plain"
            else:
                forwarded = requests.request(
                    self.command, f"{upstream}{self.path}", data=data, timeout=60,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                )  # fmt: skip
                answer = (forwarded.status_code, forwarded.content)
                kind = forwarded.headers.get("Content-Type", "application/json")
            self.send_response(answer[0])
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(answer[1])))
            self.end_headers()
            self.wfile.write(answer[1])

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        try:
            yield url
        finally:
            released.set()


def refused(
    trained_project: Path, tmp_path: Path, url: str, *command: str, env: dict[str, str] | None = None
) -> tuple[Path, str]:
    """`mlapp <command>` (``in_process``) of a project copy of its own names at ``url`` (``env``
    added to its environment): its project and its output; it must fail with exit 2 (a user's
    error), without a traceback."""
    root, project_env = team_project(trained_project, tmp_path / "p", url)
    code, output = in_process(root, project_env | (env or {}), *command)
    assert code == 2, output
    assert "Traceback" not in output, output
    return root, output


def register(trained_project: Path, tmp_path: Path, url: str, *options: str) -> tuple[Path, str]:
    """`mlapp pipeline register` refused (``refused``): its project and its last line."""
    root, output = refused(trained_project, tmp_path, url, "pipeline", "register", *options)
    return root, output.strip().splitlines()[-1]


def nothing_logged(root: Path, shared: str) -> None:
    """Not even the run: the refusal came before it."""
    assert runs(shared, load_params(root / "params.yaml").mlflow.experiment) == []


def test_a_closed_port_says_start_it(trained_project: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # bound by this process, never listening
    _, line = register(trained_project, tmp_path, url)
    assert line == (
        f"error: MLflow tracking server {url} is not reachable (ConnectionError). Start it, fix "
        "MLFLOW_TRACKING_URI, or unset it to use the local sqlite default."
    )


def test_a_server_refusing_every_call_says_to_check_the_token(trained_project: Path, tmp_path: Path) -> None:
    with proxy(None, (), 401, b"Unauthorized") as url:
        _, line = register(trained_project, tmp_path, url)
    assert line.startswith(f"error: MLflow tracking server {url} refused this client (401: Unauthorized)")
    assert "MLFLOW_TRACKING_TOKEN" in line


def test_a_url_with_no_mlflow_api_names_the_static_prefix(trained_project: Path, tmp_path: Path) -> None:
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    _, line = register(trained_project, tmp_path, f"{shared}/mlflow")
    assert "no MLflow API at this URL. A path after the host must be the server's --static-prefix" in line


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (401, rf"{REFUSED} \(.*401.*'Unauthorized'\): check MLFLOW_TRACKING_TOKEN"),
        (403, rf"{REFUSED} \(.*403.*'Forbidden'\): check MLFLOW_TRACKING_TOKEN"),
        (404, r"answers MLflow's tracking API but not its model registry \(.*404.*\): a proxy in front"),
    ],
)
def test_a_registry_refused_says_what_to_fix_before_any_run(
    status: int, said: str, trained_project: Path, tmp_path: Path
) -> None:
    """Before: "failed while registering (MlflowException) ... Run this again when the server
    answers", of a server that answered, and (a name it refused) after logging a run for nothing."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, REGISTRY, status, {401: b"Unauthorized", 403: b"Forbidden"}.get(status, b"")) as url:
        root, line = register(trained_project, tmp_path, url, "--alias", "staging")
    assert re.fullmatch(rf"error: (MLflow tracking server )?{re.escape(url)} {said}.*", line), line
    nothing_logged(root, shared)


@pytest.mark.parametrize(("status", "body"), [(401, b"Unauthorized"), (403, b"Permission denied")])
def test_a_server_refusing_only_run_creation_says_whose_permission_to_check(
    status: int, body: bytes, trained_project: Path, tmp_path: Path
) -> None:
    """MLflow's basic auth lets a user with READ on the experiment search it (`connect`'s probe)
    and answers runs/create 403 (a proxy refusing the POST: 401). Before: "failed while starting
    a run (MlflowException) ... Re-run it when the server answers", no word of permissions."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, ("/api/2.0/mlflow/runs/create",), status, body) as url:
        root, output = refused(trained_project, tmp_path, url, "pipeline", "evaluate")
    experiment = load_params(root / "params.yaml").mlflow.experiment
    assert output.strip().splitlines()[-1] == (
        f"error: MLflow tracking server {url} refused this client while starting a run (API request "
        f"to endpoint /api/2.0/mlflow/runs/create failed with error code {status} != 200. Response "
        f"body: '{body.decode()}'): check MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD), "
        f"and that this user may create and log runs in experiment {experiment!r} (EDIT on it, in "
        "MLflow's basic auth); this stage wrote no outputs. Re-run it once the server allows it "
        "(`uv run dvc repro`)."
    )
    nothing_logged(root, shared)


CREATE_EXPERIMENT = "/api/2.0/mlflow/experiments/create"


@pytest.mark.parametrize(
    ("command", "then"),
    [
        (
            ("pipeline", "evaluate"),
            "this stage wrote no outputs. Re-run it once the server allows it (`uv run dvc repro`).",
        ),
        (
            ("pipeline", "tune", "--trials", "1"),
            "no run was logged (one cut short is never reused). Run this again once the server allows it.",
        ),
    ],
)
def test_a_server_refusing_to_create_the_experiment_names_that_right(
    command: tuple[str, ...], then: str, trained_project: Path, tmp_path: Path
) -> None:
    """MLflow's basic auth with workspaces on answers experiments/create 403 "Permission denied"
    to a user without USE on the workspace (seen on `mlflow server --app-name basic-auth
    --enable-workspaces`; the app needs Flask-WTF, which this project does not install, so a proxy
    answers as it does). Before: evaluate said "while starting a run ... may create and log runs
    in experiment (EDIT on it)", a right that does not let one create it; tune, a traceback."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, (CREATE_EXPERIMENT,), 403, b"Permission denied") as url:
        root, output = refused(trained_project, tmp_path, url, *command)
    name = load_params(root / "params.yaml").mlflow.experiment
    assert output.strip().splitlines()[-1] == (
        f"error: MLflow tracking server {url} refused this client while creating experiment {name!r} "
        f"(API request to endpoint {CREATE_EXPERIMENT} failed with error code 403 != 200. Response "
        "body: 'Permission denied'): check MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD), "
        "and that this user may create experiments (USE on the workspace, in MLflow's basic auth), or "
        f"that an admin creates experiment {name!r} and gives this user EDIT on it; {then}"
    )
    assert MlflowClient(shared).get_experiment_by_name(name) is None


def test_a_server_with_its_registry_off_says_how_to_start_it(trained_project: Path, tmp_path: Path) -> None:
    """A `--registry-store-uri` MLflow has no store for: the server starts, its registry calls
    answer 400 "Model registry functionality is unavailable"."""
    postgres = require_env("MLAPP_TEST_POSTGRES_URL", "PostgreSQL for an `mlflow server` of our own")
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on the same PostgreSQL")
    off = ("--registry-store-uri", "none://")
    with own_server(postgres, tmp_path / "artifacts", tmp_path / "server.log", options=off) as (url, _proc):
        root, line = register(trained_project, tmp_path, url)
    assert line.startswith(f"error: the model registry of MLflow tracking server {url} is off ("), line
    assert "Model registry functionality is unavailable" in line
    assert line.endswith(
        "start the server with a database as --registry-store-uri (or --backend-store-uri), e.g. postgresql://…"
    )
    nothing_logged(root, shared)


@pytest.mark.parametrize(
    ("command", "at", "what"),
    [
        (("pipeline", "register"), REGISTRY, "registering"),
        (("pipeline", "evaluate"), ("/api/2.0/mlflow/runs/create",), "starting a run"),
        # the one long silence of a healthy server: an upload it stores in S3 before answering
        (
            ("pipeline", "track"),
            ("/api/2.0/mlflow-artifacts/",),
            r"logging run \w+ \(storing its artifacts\)",
        ),
    ],
)
def test_a_server_that_stops_answering_names_the_timeout_to_raise(
    command: tuple[str, ...], at: tuple[str, ...], what: str, trained_project: Path, tmp_path: Path
) -> None:
    """It answers `connect`, then accepts and never answers: MLflow's 120 s per try, 5 tries, held
    evaluate 640 s; now 30 s (120 s for uploads), and the line names the setting (1 s here, set by
    this test)."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    with proxy(shared, at, NEVER) as url:
        _, output = refused(
            trained_project, tmp_path, url, *command, env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "1"}
        )
    said = (
        rf"error: MLflow tracking server {re.escape(url)} accepted the connection but did not answer "
        rf"within 1 s while {what}, on each of 2 tries \(is it stuck\? its log may say\); to wait "
        r"longer, set MLFLOW_HTTP_REQUEST_TIMEOUT \(seconds\) higher; "
    )
    assert re.search(said, output), output


def test_the_longest_model_name_params_allow_is_the_servers_longest() -> None:
    """params.yaml refuses a name over MODEL_NAME_MAX: the PostgreSQL-backed server refused one
    only after a run was logged (its column), and registers one of exactly that length."""
    shared = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    client = MlflowClient(shared, shared)
    longest = f"long-{uuid.uuid4().hex}".ljust(MODEL_NAME_MAX, "n")
    client.create_registered_model(longest)
    client.delete_registered_model(longest)
    with pytest.raises(MlflowException, match="value too long"):
        client.create_registered_model(longest + "n")
