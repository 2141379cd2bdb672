"""MLflow team mode against a real `mlflow server` on PostgreSQL with served artifacts.

`.ci/services/mlflow-postgres.sh` starts the shared server (MLAPP_TEST_MLFLOW_SERVER) and the
database (MLAPP_TEST_POSTGRES_URL). The server-death test starts its own server process on
the same database, so killing it leaves the shared one alone. Every test uses its own
experiment and registered-model name: the database outlives a test session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import mlflow.pyfunc
import pytest
from mlflow.tracking import MlflowClient

from mlapp.delivery import ops
from mlapp.model import load
from mlapp.params import MlflowParams, load_params
from mlapp.registry import set_alias
from mlapp.serving.local import free_port
from mlapp.tracking import connect
from tests.conftest import BIN, copy_project, sh
from tests.holding import held_pid, hold_env, release
from tests.team.conftest import require_env

pytestmark = pytest.mark.slow
# A dead server should fail in seconds here, not after MLflow's default retries (~2 minutes).
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> str:
    url = require_env("MLAPP_TEST_MLFLOW_SERVER", "an `mlflow server` on PostgreSQL")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    for name, value in FAST_FAIL.items():  # this process's own calls (aliases, searches) too
        monkeypatch.setenv(name, value)
    return url


def team_project(trained_project: Path, dest: Path, url: str) -> tuple[Path, dict[str, str]]:
    """A project copy with its own experiment and model name, pointed at ``url``."""
    root = copy_project(trained_project, dest)
    name = f"mlapp-{uuid.uuid4().hex[:10]}"
    text = (root / "params.yaml").read_text()
    text = text.replace("  experiment: mlapp\n", f"  experiment: {name}\n")
    text = text.replace("  model_name: mlapp\n", f"  model_name: {name}\n")
    (root / "params.yaml").write_text(text)
    sh("git", "commit", "-qam", "team names", cwd=root)
    return root, {"MLFLOW_TRACKING_URI": url, **FAST_FAIL}


def alias_version(params: MlflowParams, alias: str) -> str:
    uri = params.resolved_tracking_uri()  # the current server, not MLflow's last global URI
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return str(client.get_model_version_by_alias(params.model_name, alias).version)


def aliased_model(params: MlflowParams, alias: str) -> str:
    """The sha256 of the model file ``models:/<name>@<alias>`` loads (the pyfunc reads our own files)."""
    connect(params)  # the current server, not MLflow's last global URI
    pyfunc = mlflow.pyfunc.load_model(f"models:/{params.model_name}@{alias}")
    return str(pyfunc.unwrap_python_model().model.sha256)


def runs(url: str, experiment: str) -> list:
    client = MlflowClient(url)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def retrain(root: Path, env: dict[str, str], depth: int) -> None:
    """A second model: another max_depth, reproduced (train + evaluate, logged to the server)."""
    text = (root / "params.yaml").read_text().replace("    max_depth: 5\n", f"    max_depth: {depth}\n")
    (root / "params.yaml").write_text(text)
    sh("dvc", "repro", cwd=root, env=env)


def test_pipeline_registry_aliases_and_load_by_alias(server, trained_project, tmp_path, monkeypatch) -> None:
    root, env = team_project(trained_project, tmp_path / "p", server)
    monkeypatch.chdir(root)
    params = load_params()
    # register logs the model's run itself (the copy was evaluated on sqlite): a pipeline logging
    # to the server is test_two_pipelines_log_at_once's.
    sh("mlapp", "pipeline", "register", "--tag", "image.digest=sha256:one", cwd=root, env=env)
    first = load(root / "models")
    retrain(root, env, depth=3)
    second = load(root / "models")
    assert second.sha256 != first.sha256
    sh("mlapp", "pipeline", "register", "--tag", "image.digest=sha256:two", cwd=root, env=env)

    # Release path: staging then production move to the new version; rollback moves production back.
    assert ops.move_alias(params.mlflow, "staging", "sha256:two") == "2"
    assert ops.move_alias(params.mlflow, "production", "sha256:two") == "2"
    assert alias_version(params.mlflow, "production") == "2"
    assert ops.move_alias(params.mlflow, "production", "sha256:one") == "1"
    assert alias_version(params.mlflow, "production") == "1"
    assert alias_version(params.mlflow, "staging") == "2"

    # Whoever loads `models:/<name>@<alias>` gets that version's model, through the server's
    # served artifacts: the model file of each, by its sha256.
    assert aliased_model(params.mlflow, "production") == first.sha256
    assert aliased_model(params.mlflow, "staging") == second.sha256


def at_once(argv: list[str], projects: list[tuple[Path, dict[str, str]]]) -> list[str]:
    """``argv`` started in each project (root, its environment) together, the project's own code
    first on the paths; their outputs, once every one exited 0."""
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    procs = [
        subprocess.Popen(
            argv,
            cwd=root,
            env={**os.environ, **env, "PATH": path, "PYTHONPATH": str(root / "src")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for root, env in projects
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outputs
    return outputs


PASSWORD = "s3cret-in-the-uri"  # noqa: S105 - what must never be printed


def test_two_pipelines_log_at_once(server, trained_project, tmp_path) -> None:
    """Two pipelines log to the server at once, ``hidden`` through a URL with a password
    (``http://user:password@host``, which MLflow accepts and a server without auth ignores) that
    neither its evaluate nor its register may print: MLflow's own "View run ... at: <URI>" lines
    printed it whole into every `dvc repro` log, beside our redacted line."""
    root, env = team_project(trained_project, tmp_path / "a", server)
    hidden, hidden_env = team_project(trained_project, tmp_path / "hidden", server)
    hidden_env["MLFLOW_TRACKING_URI"] = server.replace("://", f"://alice:{PASSWORD}@", 1)
    # evaluate forced: the copies were evaluated on sqlite
    _, hidden_logged = at_once(["dvc", "repro", "-f", "-s", "evaluate"], [(root, env), (hidden, hidden_env)])
    for project in (root, hidden):
        found = runs(server, load_params(project / "params.yaml").mlflow.experiment)
        assert [r.info.status for r in found] == ["FINISHED"], project
        assert found[0].data.tags["model.sha256"] == load(project / "models").sha256, project
    registered = sh("mlapp", "pipeline", "register", cwd=hidden, env=hidden_env)
    said = hidden_logged + registered.stdout + registered.stderr
    assert "MLflow run " in said and "at http://***@" in said, said
    assert PASSWORD not in said, said


def test_a_repository_cannot_register_into_another_ones_model(
    server, trained_project, tmp_path, monkeypatch
) -> None:
    """Two repositories under one model name (a clone that skipped `make init`): the other may
    neither add a version nor move an alias of the owner's model; the owner's CI still registers."""
    # This suite's own CI sets GITHUB_REPOSITORY: here each clone's origin names its repository.
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    owner, env = team_project(trained_project, tmp_path / "owner", server)
    other = copy_project(owner, tmp_path / "other")  # the same experiment and model name
    for root, repo in ((owner, "acme/churn"), (other, "acme/fraud")):
        sh("git", "remote", "add", "origin", f"https://github.com/{repo}.git", cwd=root)
    sh("mlapp", "pipeline", "register", "--alias", "production", cwd=owner, env=env)
    params = load_params(owner / "params.yaml").mlflow
    for command in (["register", "--alias", "production"], ["track", "--alias", "production"]):
        refused = sh("mlapp", "pipeline", *command, cwd=other, env=env, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"registered model {params.model_name!r} in {server} belongs to github.com/acme/churn" in (
            refused.stderr
        )
        assert "this is github.com/acme/fraud" in refused.stderr and "mlflow.model_name" in refused.stderr
    assert alias_version(params, "production") == "1"
    ci = {**env, "GITHUB_REPOSITORY": "acme/churn"}  # the owner's CI (checked out over https)
    assert "version 2" in sh("mlapp", "pipeline", "register", cwd=owner, env=ci).stdout


def test_two_tracks_at_once_point_the_alias_at_one_version(server, trained_project, tmp_path) -> None:
    """`make run` twice at once on one server: however they interleave, both name the version
    the alias points at (one may have registered a spare version of the same model)."""
    root, env = team_project(trained_project, tmp_path / "p", server)
    outputs = at_once(["mlapp", "pipeline", "track", "--alias", "candidate"], [(root, env)] * 2)
    version = alias_version(load_params(root / "params.yaml").mlflow, "candidate")
    assert all(f"version {version} is @candidate" in out for out in outputs), outputs


def test_an_alias_set_twice_at_once_is_set(server) -> None:
    """Two processes setting one new alias at once (two `make run`, staging and a rerun): MLflow's
    SQL store inserts the alias after reading that none exists, so the later insert failed on the
    key (a 400 in about a third of tries here, with no pause between the two). Both now succeed."""
    client = MlflowClient(server)
    run = client.create_run(client.create_experiment(f"alias-race-{uuid.uuid4().hex[:10]}"))
    name = f"alias-race-{uuid.uuid4().hex[:10]}"
    client.create_registered_model(name)
    client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")  # no alias on files gone
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)

    def set_it(both: threading.Barrier, alias: str) -> None:
        both.wait()
        set_alias(client, name, alias, "1")

    with ThreadPoolExecutor(2) as pool:
        for attempt in range(40):
            both = threading.Barrier(2)
            for done in [pool.submit(set_it, both, f"a{attempt}") for _ in range(2)]:
                done.result()  # raises what set_alias raised
    assert set(client.get_registered_model(name).aliases) == {f"a{i}" for i in range(40)}


def poll_until(ready: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str) -> None:
    """Wait for a server process to answer (deadline 120 s); fail with its log if it exits."""
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not ready:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def own_server(
    postgres_url: str,
    artifacts: Path | str,
    log: Path,
    env: dict[str, str] | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen]]:
    """An `mlflow server` on a free port, killed after; ``env``: the server's own (its bucket's);
    ``options``: more of its command line."""
    port = free_port()
    argv = [
        str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", postgres_url, "--artifacts-destination", str(artifacts), "--serve-artifacts",
        *options,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})},  # no GenAI jobs
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    poll_until(lambda: _healthy(url), proc, log, "mlflow server")
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def killed_while_logging(
    commands: list[tuple[list[str], Path, dict[str, str]]], proc: subprocess.Popen, tmp_path: Path
) -> list[tuple[int, str]]:
    """Run each command (argv, its project, its environment) held at its run's logging, kill the
    server ``proc`` once all are held, let them go on: each one's exit status and output."""
    hold = hold_env(tmp_path, "mlapp.tracking:_log_into_run")
    children = [
        subprocess.Popen(argv, cwd=root, env={**os.environ, **env, **hold}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for argv, root, env in commands
    ]  # fmt: skip
    said: list[list[str]] = [[] for _ in children]
    held: list[int] = []
    try:
        for (argv, _, _), child, lines in zip(commands, children, said, strict=True):
            assert child.stdout is not None
            pid = held_pid(child.stdout, lines)
            assert pid is not None, f"{argv} never started logging its run:\n{''.join(lines)}"
            held.append(pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        for pid in held:
            release(pid)
        ended = []
        for child, lines in zip(children, said, strict=True):  # each to its end in turn: what the
            assert child.stdout is not None  # others print meanwhile (a few lines) never fills a pipe
            output = "".join(lines) + child.stdout.read()
            ended.append((child.wait(timeout=120), output))
        return ended
    finally:
        for i, child in enumerate(children):
            if child.poll() is None:  # failed above: neither a command nor what it runs outlives the test
                if i < len(held):
                    os.kill(held[i], signal.SIGKILL)
                child.kill()
                child.communicate(timeout=60)


def test_server_going_away_mid_run(trained_project, tmp_path, monkeypatch) -> None:
    postgres = require_env("MLAPP_TEST_POSTGRES_URL", "PostgreSQL for a killable `mlflow server`")
    artifacts, log = tmp_path / "artifacts", tmp_path / "mlflow-server.log"
    with own_server(postgres, artifacts, log) as (url, proc):
        root, env = team_project(trained_project, tmp_path / "p", url)
        monkeypatch.chdir(root)
        for name, value in env.items():  # the server and FAST_FAIL, for this process's calls too
            monkeypatch.setenv(name, value)
        params = load_params()
        # register logs the run itself (a copy evaluated on sqlite has none on this server)
        sh("mlapp", "pipeline", "register", "--tag", "image.digest=sha256:old", cwd=root, env=env)
        assert ops.move_alias(params.mlflow, "production", "sha256:old") == "1"
        old_model = load(root / "models").sha256
        old_metrics = (root / "metrics" / "metrics.json").read_text()
        old_lock = (root / "dvc.lock").read_text()

        text = (root / "params.yaml").read_text().replace("    max_depth: 5\n", "    max_depth: 3\n")
        (root / "params.yaml").write_text(text)
        # evaluate is held once its run exists, before it logs anything (tests/holding.py): the
        # server dies in that window. Killing it once the store showed the run was a race with
        # evaluate's logging, lost when this test was paused a few seconds on a loaded machine.
        path = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        ((code, output),) = killed_while_logging([(["dvc", "repro"], root, {**env, **path})], proc, tmp_path)

    assert code != 0
    assert f"MLflow tracking server {url} failed while logging run" in output, output
    # No half-written outputs: no new metrics, no staging leftovers, evaluate not recorded.
    metrics_file = root / "metrics" / "metrics.json"
    assert not metrics_file.exists() or metrics_file.read_text() == old_metrics
    assert not list((root / "metrics").glob(".evaluate-*"))
    assert json.loads(sh("dvc", "status", "--json", cwd=root).stdout).get("evaluate")
    assert (root / "dvc.lock").read_text() != old_lock  # train finished and was recorded...
    # ...and the registry's model is intact once a server is back on the same store.
    with own_server(postgres, artifacts, log) as (url, _proc):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        assert alias_version(params.mlflow, "production") == "1"
        assert aliased_model(params.mlflow, "production") == old_model
        statuses = sorted(r.info.status for r in runs(url, params.mlflow.experiment))
        assert statuses in (["FINISHED", "RUNNING"], ["FAILED", "FINISHED"])  # never a 2nd FINISHED
