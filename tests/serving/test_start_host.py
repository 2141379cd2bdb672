"""`mlapp serving serve` on a host that cannot run it (its port in use, a state folder it cannot
write, no room for the workers' metrics): one `error:` line and exit 2; and a worker's exit while
the server stops is no reason to start another. test_start.py: a model it cannot serve."""

from __future__ import annotations

import shutil
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import serve_until_exit as serve


def test_a_port_in_use_is_one_error_line(serving_root: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve(serving_root, serving_root / "models", port)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_probe_port_in_use_is_one_error_line_naming_the_option(serving_root: Path) -> None:
    """``--probe-port`` (a free one per test server, make run's) is bound before anything starts."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve(serving_root, serving_root / "models", probe_port=port)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: cannot listen on 127.0.0.1:{port} (--probe-port): Address already in use" in done.stderr


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
    from mlapp.serving.preflight import METRICS_BYTES_PER_WORKER, space_problem, state_problems

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
