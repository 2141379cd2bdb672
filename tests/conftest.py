"""Shared fixtures: a throw-away copy of the project with small data and its own MLflow.

Tests never touch the working tree's data, models or mlflow.db; each copy is a real git
repository with DVC, so commands run exactly as a user (or CI) would run them.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import shutil
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from mlapp import sample_data, template
from mlapp.serving.local import free_port, ready_after

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMALL_ROWS = 3000
# Where an MLflow sqlite store records artifact paths (absolute, under the project it was made in).
ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
)

# The suite starts hundreds of Python processes (dvc, mlapp stages, servers), and most import
# the same heavy libraries. With bytecode writing off (CI images often set
# PYTHONDONTWRITEBYTECODE), every one of them compiles those libraries from source again,
# ~6 CPU-s each for mlflow + pandas + xgboost + sklearn + pandera; written once, the .pyc files
# serve every later process, the copies' own environments included.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
# MLflow 3 skips its usage data under pytest only when PYTEST_CURRENT_TEST is set as it is imported,
# and test modules import it while being collected, before any test sets it (as `mlapp` and `make`).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# DVC's own usage data: the template's .dvc/config turns it off, but the folders tests make with
# `dvc init` or without DVC at all (reference_project, where report runs `dvc status`) have no such
# setting, and each of their dvc commands started a detached `dvc daemon analytics` (a Python
# process importing DVC and posting to dvc.org): 22 of them in `make test-fast`.
os.environ.setdefault("DVC_NO_ANALYTICS", "true")
# Ctrl-C as a terminal gives it. A suite started in the background (`nohup`, `cmd &` in a script:
# how CI machines often run it) inherits SIGINT ignored, and so would every process it starts: the
# interrupt tests would see nothing happen, whatever the code does.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def project_files() -> list[Path]:
    return template.project_files(REPO)


def sh(
    *args: str | Path,
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout_s: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run a command the way a user would, with the project's environment on PATH.

    Inside a project copy, the copy's own ``src/`` comes first on PYTHONPATH: the shared
    environment has this repository installed in editable mode, and a test that edits the
    copy's code (bring-your-own-data, init) must run the copy's code, not ours.
    ``log``: the output goes to this file instead of being captured, for a command that leaves
    children running (captured pipes would stay open, and the call waiting, until they exit).
    """
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    if (Path(cwd) / "src").is_dir() and Path(cwd).resolve() != REPO:
        full_env["PYTHONPATH"] = str(Path(cwd).resolve() / "src")
    argv = [str(a) for a in args]
    with log.open("w") if log else nullcontext() as out:
        pipes: dict[str, Any] = {"stdout": out, "stderr": subprocess.STDOUT}
        pipes = pipes if out else {"capture_output": True}
        try:
            result = subprocess.run(
                argv, cwd=cwd, env=full_env, text=True, check=False, timeout=timeout_s, **pipes
            )
        except subprocess.TimeoutExpired as exc:  # killed: fail with what it printed, never wait on
            raise AssertionError(f"{args} ran over {timeout_s} s:\n{exc.stdout}\n{exc.stderr}") from None
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """The exit code of ``mlapp *argv`` run in-process as the console script runs it."""
    from mlapp.cli import main

    monkeypatch.setattr("sys.argv", ["mlapp", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    code = exit_info.value.code
    assert isinstance(code, int)
    return code


def in_process(root: Path, env: dict[str, str], *command: str) -> tuple[int, str]:
    """`mlapp <command>` run in this process as its console script runs it, in ``root`` with ``env``
    added: its exit code and its output. A process of its own imports MLflow, pandas and XGBoost
    again (about 4 CPU-s a refused command); what the command changes of its process (the
    environment, MLflow's URIs, its loggers' levels) is undone after, as that process's end did."""
    import mlflow  # not at import time: most tests never load it

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    levels = [(logger, logger.level) for logger in loggers if isinstance(logger, logging.Logger)]
    said = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(said), redirect_stderr(said):
        patch.chdir(root)
        for name, value in env.items():
            patch.setenv(name, value)
        before = os.environ.copy()
        try:
            code = run_main(patch, *command)
        finally:
            os.environ.clear()
            os.environ.update(before)
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)
            for logger, level in levels:
                logger.setLevel(level)
    return code, said.getvalue()


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    def gone() -> str | None:
        return None if proc.poll() is None else f"the server exited ({proc.returncode})"

    ready_after(url, timeout_s, gone, lambda: log.read_text()[-3000:], poll_s=0.5)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the supervisor: it stops its workers (each in its own session)
    except ProcessLookupError:  # the whole group is gone (a server that died: the test says why)
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def own_probe_port() -> list[str]:
    """``--probe-port`` of a free port, for a test server's command (``mlapp serving serve``, the
    image's ``mlapp.serving.supervise``), as its traffic port is one (``free_port``). Without it
    every test server bound serving.probe_port (3001): the same user's servers share it
    (SO_REUSEPORT: either answers another's probes), and a port held otherwise (another user's
    server, any program on 3001) stopped every one of them from starting."""
    return ["--probe-port", str(free_port())]


@contextmanager
def running_server(
    argv: list[str], port: int, cwd: Path, log: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A real server process (argv listens on ``port``), ready on /readyz; stopped on exit.

    Each server gets its own BentoML home unless the caller's environment names one: BentoML
    keeps its Prometheus multiprocess files there and empties the folder when a server starts,
    so servers sharing one (tests in parallel, other checkouts) mix or lose each other's metrics.
    """
    env = {"BENTOML_HOME": str(log.parent / f"bentoml-home-{port}"), **(os.environ if env is None else env)}
    with server_process(argv, port, cwd, log, env) as (_proc, url):
        yield url


@contextmanager
def server_process(
    argv: list[str], port: int, cwd: Path, log: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``running_server``'s process, in its own session with its output in ``log``, and URL, for a
    test that signals it itself; stopped on exit (``stop``) unless it is already gone."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield proc, url
    finally:
        stop(proc)


@contextmanager
def answering(server: socketserver.TCPServer) -> Iterator[str]:
    """``server`` (an ``http.server`` on 127.0.0.1) answering from a thread: its URL; closed on exit.
    It looks for the stop every 10 ms: serve_forever's default half second was each test's wait."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=[0o077, 0o022], ids=["umask077", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """This process's umask for the test: a private one and the usual one. A file the test writes
    takes ``0o666 & ~umask`` where it follows the user's mode."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture
def silent() -> Iterator[str]:
    """A server URL whose socket listens (the kernel accepts connections) and never answers: a
    hung service, by construction rather than by timing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def make_project(dest: Path, rows: int = SMALL_ROWS) -> Path:
    """Copy the project into ``dest`` as a fresh git repo whose data has ``rows`` rows."""
    template.copy_tree(REPO, dest)
    sh("git", "init", "-q", "-b", "main", cwd=dest)
    sh("git", "config", "user.email", "test@example.com", cwd=dest)
    sh("git", "config", "user.name", "test", cwd=dest)
    sh("mlapp", "pipeline", "generate", "--rows", str(rows), cwd=dest)
    sh("dvc", "add", "-q", "data", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "commit", "-qm", "init", cwd=dest)
    return dest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with end-to-end (slow) tests first, the quick ones after, each file's order kept.

    `make test` hands whole files to its two workers in this order (``--dist loadfile
    --no-loadscope-reorder``): the long files start early and the quick ones fill the end,
    instead of one worker starting a minutes-long file while the other has nothing left.
    A file stays on one worker, so its module-scoped fixtures (servers, bentos) run once.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
    # pytest-timeout counts fixture setup: the first test on a worker to ask for the trained
    # project pays for its `dvc repro` (231 s once at load average 14). A hang guard, not a
    # claim about speed; each command of the build has sh's own limit.
    for item in items:
        if "trained_project" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(600))


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same behaviour in CI as on a laptop: no test appends to the real job's outputs or
    summary (mlapp.gha falls back to these variables), and none inherits the Actions guards."""
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own sqlite tracking store; never the developer's mlflow.db. (A test that
    writes to MLflow can take tests/pipeline's ``mlflow_store``: the same path, its tables made.)

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (``tracking.connect`` run in-process)
    outlive a test: a module global that beats MLFLOW_TRACKING_URI, and an exported
    MLFLOW_REGISTRY_URI. Both are undone, or the next test on this worker uses this one's store.
    """
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    yield
    if (mlflow := sys.modules.get("mlflow")) is not None:  # imported by the test: reset its globals
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


@pytest.fixture(scope="session")
def fresh_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``make_project``'s result, made once per run and never edited: ``project`` copies it."""
    yield from read_only(
        built_once(tmp_path_factory, "fresh", lambda f: make_project(f / "project")) / "project"
    )


@pytest.fixture
def project(fresh_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh small project (not yet reproduced), the test's own copy; the test runs inside it."""
    root = copy_project(fresh_project, tmp_path / "project")
    monkeypatch.chdir(root)
    return root


def read_only(root: Path) -> Iterator[Path]:
    """Yield ``root``, then fail if any file in it was added, removed or changed meanwhile.

    The folders ``built_once`` makes are shared by every test and both xdist workers: a file
    written there changes what other tests read, and one appearing while another test copies
    the folder fails that copy.
    """

    def files() -> dict[str, tuple[int, int]]:
        stats = {p.relative_to(root).as_posix(): p.lstat() for p in root.rglob("*")}
        return {name: (st.st_size, st.st_mtime_ns) for name, st in stats.items()}

    before = files()
    yield root
    after = files()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"tests wrote into the shared, read-only {root}: {changed[:20]}"


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(folder)`` once per test run, even with pytest-xdist: its workers share the folder.

    Each xdist worker is a separate session; without this each would build its own copy of
    the expensive fixtures. The first worker builds under a file lock, the others wait and reuse.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # this run's folder, common to all its workers
    folder, done = base / name, base / f"{name}.done"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed in another worker
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small project after one full `dvc repro`, shared read-only by the whole test run.

    Tests that change files must copy it (``copy_project``) instead of editing it.
    """

    def build(folder: Path) -> None:
        root = make_project(folder / "project")
        sh("dvc", "repro", cwd=root, env={"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"})
        sh("git", "add", "-A", cwd=root)
        sh("git", "commit", "-qm", "trained", cwd=root)

    yield from read_only(built_once(tmp_path_factory, "trained", build) / "project")


@pytest.fixture(scope="session")
def reference_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """params.yaml plus the outputs the monitor compares with, made in-process in seconds.

    validate, split, train and evaluate (without MLflow) on the small sample: the same files
    `dvc repro` writes, without DVC, git or subprocesses, so fast tests can use it. Read-only.
    """
    yield from read_only(built_once(tmp_path_factory, "reference", _make_reference))


# The tests run on the churn sample; a feature added to or dropped from FEATURES goes there too.
SAMPLE_REFUSED = (
    "validate refuses the churn sample the tests run on (its problems are printed above): "
    "src/mlapp/sample_data.py must write a column per feature of src/mlapp/schema.py FEATURES"
)


def _make_reference(root: Path) -> None:
    from mlapp.params import load_params
    from mlapp.stages import evaluate, split, train, validate

    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    params = load_params(root / "params.yaml")
    cwd = Path.cwd()
    os.chdir(root)  # params.yaml paths are relative to the project root
    try:
        frame = sample_data.generate(SMALL_ROWS, params.sample_data.seed)
        sample_data.write(frame, params.data.raw, params.data.csv_separator, params.data.decimal)
        v = params.validate_
        if validate.run(params, source=params.data.raw, output=v.output, report=v.report):  # 1: refused
            raise AssertionError(SAMPLE_REFUSED)
        split.run(params, source=v.output, train_path=params.split.train, test_path=params.split.test)
        train.run(params, source=params.split.train, model_dir=params.train.model_dir)
        evaluate.run(
            params,
            model_dir=params.train.model_dir,
            test_path=params.split.test,
            metrics_path=params.evaluate.metrics,
            plots_dir=params.evaluate.plots_dir,
            log_to_mlflow=False,
        )
    finally:
        os.chdir(cwd)


def copy_project(source: Path, dest: Path) -> Path:
    """A writable copy of a project, DVC cache and git history included.

    Its sqlite MLflow store is moved along: the store keeps absolute artifact locations, so
    runs logged in a copy wrote their artifacts into ``source`` (the shared trained project).
    """
    shutil.copytree(source, dest, symlinks=True)
    if (store := dest / "mlflow.db").is_file():
        with closing(sqlite3.connect(store)) as db, db:
            for table, column in ARTIFACT_COLUMNS:
                update = f"UPDATE {table} SET {column} = replace({column}, ?, ?)"  # noqa: S608 - our names
                db.execute(update, (f"{source}/", f"{dest}/"))
    return dest


@pytest.fixture
def unreachable_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """s3:// pointed at a port nothing listens on, with credentials, one attempt, no instance
    metadata lookup: botocore fails at once with its own error (not an OSError)."""
    for name, value in {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


def with_threshold(model_dir: Path, dest: Path, threshold: float) -> Path:
    """A copy of ``model_dir`` whose spec alone changed: what retraining after a threshold-only
    change gives (the booster's bytes do not depend on the threshold)."""
    from mlapp import model as model_io
    from mlapp.files import read_json, write_json

    shutil.copytree(model_dir, dest)
    write_json({**read_json(dest / model_io.SPEC_FILE), "threshold": threshold}, dest / model_io.SPEC_FILE)
    return dest
