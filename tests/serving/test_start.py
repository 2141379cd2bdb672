"""`mlapp serving serve` that cannot serve (no model, a stale model, a port in use): one
`error:` line and exit 2, not workers failing and being replaced for ever, or a wait."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlapp.serving.local import free_port

DEADLINE_S = 60  # imports on a loaded machine; a crash-looping server never exits at all


def serve(
    serving_root: Path, model_dir: Path, port: int | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mlapp", "--params", str(serving_root / "params.yaml"), "serving", "serve"]
    argv += ["--port", str(port or free_port()), "--model-dir", str(model_dir)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    environ = {**os.environ, **(env or {})}
    proc = subprocess.Popen(argv, cwd=serving_root, text=True, start_new_session=True, env=environ, **pipes)
    try:
        out, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)  # workers (own sessions) could hold the pipes: never wait on
        pytest.fail(f"the server kept running without serving ({DEADLINE_S} s)")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_no_model_is_one_error_line(serving_root: Path, tmp_path: Path) -> None:
    done = serve(serving_root, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: no model at {tmp_path / 'model.ubj'}: run the pipeline first" in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.stderr.startswith("serving "), done.stderr  # it said so before the error


def test_a_model_the_schema_no_longer_matches_is_one_error_line(serving_root: Path, tmp_path: Path) -> None:
    models = shutil.copytree(serving_root / "models", tmp_path / "models")
    spec = json.loads((models / "model_spec.json").read_text())
    spec["features"] = [*spec["features"][1:], spec["features"][0]]  # as if the schema was reordered
    (models / "model_spec.json").write_text(json.dumps(spec))
    done = serve(serving_root, models)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: the model was trained on features" in done.stderr and "Traceback" not in done.stderr


CORRUPTIONS = {  # file -> what a broken deploy or an interrupted copy leaves there
    "model.ubj": lambda data: data[: len(data) // 2],  # truncated
    "model_spec.json": lambda data: data[:15],  # truncated JSON
}


@pytest.mark.parametrize(("name", "garbage"), [(n, False) for n in CORRUPTIONS] + [("model.ubj", True)])
def test_a_corrupt_model_file_is_one_error_line_naming_it(
    serving_root: Path, tmp_path: Path, name: str, garbage: bool
) -> None:
    """XGBoost's C++ backtrace (or a JSON traceback) before: now the file, and how to restore it."""
    models = shutil.copytree(serving_root / "models", tmp_path / "models")
    broken = models / name
    broken.write_bytes(b"\x00not a model" * 50 if garbage else CORRUPTIONS[name](broken.read_bytes()))
    done = serve(serving_root, models)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: cannot read {broken} (" in done.stderr
    restore = "truncated or corrupt; restore it (`uv run dvc checkout`, `uv run dvc pull`) or retrain"
    assert restore in done.stderr
    assert "Traceback" not in done.stderr and "[bt]" not in done.stderr


def test_a_port_in_use_is_one_error_line(serving_root: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve(serving_root, serving_root / "models", port)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_state_folder_it_cannot_write_is_one_error_line_naming_the_variable(
    serving_root: Path, tmp_path: Path
) -> None:
    """A read-only container without its BentoML home volume died with BentoML's traceback."""
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "bentoml"  # under a file: cannot be created, even by root
    done = serve(serving_root, serving_root / "models", env={"BENTOML_HOME": str(home)})
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: {home} ($BENTOML_HOME) is not writable (" in done.stderr
    assert "mount a writable volume there or set $BENTOML_HOME" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_metrics_folder_without_room_for_the_workers_is_named(tmp_path: Path) -> None:
    """A full /tmp: each worker died of SIGBUS writing its metrics files, and each replacement too,
    while the server process kept running (measured on the image: respawns every ~0.4 s)."""
    from mlapp.serving.supervise import METRICS_BYTES_PER_WORKER, space_problem, state_problems

    free = shutil.disk_usage(tmp_path).free
    problem = space_problem(tmp_path, free + (1 << 40), "TMPDIR")
    assert problem is not None and f"{tmp_path} ($TMPDIR) has " in problem
    assert problem.endswith("the server needs: free space or set $TMPDIR")
    assert space_problem(tmp_path, METRICS_BYTES_PER_WORKER, "TMPDIR") is None
    assert state_problems(2, {"BENTOML_HOME": str(tmp_path / "home")}) == []


class Arbiter:
    """circus's arbiter as ``respawn_on_exit`` sees it: running, stopping or not, and its loop."""

    def __init__(self, stopping: bool) -> None:
        self.running, self._stopping, self.managed = True, stopping, 0
        self.loop = self

    def add_callback(self, callback: Any) -> None:
        callback()

    def manage_watchers(self) -> None:
        self.managed += 1


@pytest.mark.parametrize("stopping", [False, True])
def test_a_worker_exit_while_stopping_is_no_replacement(
    stopping: bool, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """On SIGTERM each worker's exit logged "starting its replacement now", 8 times in 0.7 s."""
    from mlapp.serving.supervise import respawn_on_exit

    arbiter = Arbiter(stopping)
    before = signal.getsignal(signal.SIGCHLD)
    try:
        respawn_on_exit(arbiter, tmp_path, 1, tmp_path)  # metrics and workers' temporary folders
        signal.getsignal(signal.SIGCHLD)(signal.SIGCHLD, None)  # type: ignore[operator, misc]
    finally:
        signal.signal(signal.SIGCHLD, before)
    logged = "starting its replacement now" in capfd.readouterr().err
    assert (arbiter.managed, logged) == ((0, False) if stopping else (1, True))
