"""Ctrl-C in the modules the serving image runs alone (``python -m mlapp.serving.score``, the batch
job; ``python -m mlapp.serving.supervise``, the server): one line and exit 130, as every ``mlapp``
command ends (tests/pipeline/test_entry.py), not Python's traceback nor a quiet exit 0.

Each interrupt is sent once the process says where it is (held at the end of an import, a request
for its input, the server answering), never after a wait."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from mlapp.sample_data import generate
from mlapp.serving.local import free_ports
from tests.conftest import answering
from tests.pipeline.test_entry import DEADLINE_S, imported, said_after_import
from tests.serving.test_resilience import port_free
from tests.serving.test_stop import started

MODULES = {
    "score": ["mlapp.serving.score", "--input", "in.csv", "--output", "out.parquet"],
    "supervise": ["mlapp.serving.supervise", "--host", "127.0.0.1", "--port"],
}


@pytest.mark.parametrize("name", MODULES)
def test_ctrl_c_while_the_module_imports_is_one_line_and_exit_130(serving_root, tmp_path, name) -> None:
    """A Ctrl-C as pandas loaded (the scorer imports it at the top) or as the server's settings did
    was Python's traceback, and a death by SIGINT (-2), not exit 130."""
    argv = [*MODULES[name], *([str(free_ports(1)[0])] if name == "supervise" else [])]
    # The first import the interrupt follows, and one that comes well after it (never reached).
    first, later = {"score": ("pandas", "xgboost"), "supervise": ("mlapp.serving.settings", "bentoml")}[name]
    code, said = said_after_import(["-m", *argv], first, serving_root, tmp_path)
    assert code == 130, "".join(said)[-3000:]
    assert first in map(imported, said) and later not in map(imported, said)
    assert [line for line in said if not line.startswith("import time:")] == ["error: interrupted\n"]


class HeldCsv(http.server.BaseHTTPRequestHandler):
    """A CSV's header and first rows, then nothing until the test is done: the scorer is reading."""

    asked = threading.Event()
    done = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        self.wfile.write(generate(50, 4).to_csv(index=False).encode())
        self.wfile.flush()
        HeldCsv.asked.set()
        HeldCsv.done.wait(DEADLINE_S)


@pytest.fixture
def held_csv() -> Iterator[str]:
    HeldCsv.asked.clear()
    HeldCsv.done.clear()
    with answering(http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeldCsv)) as url:
        try:
            yield f"{url}/batch.csv"
        finally:
            HeldCsv.done.set()


def test_ctrl_c_while_scoring_is_one_line_and_exit_130_the_output_kept(serving_root, tmp_path, held_csv):
    """Stopped while it reads its input (the model loaded, the first rows in): one line, exit 130,
    and the previous predictions as they were."""
    output = tmp_path / "out.parquet"
    output.write_bytes(b"previous")
    argv = [sys.executable, "-m", "mlapp.serving.score", "--input", held_csv, "--output", str(output)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    child = subprocess.Popen(argv, cwd=serving_root, text=True, **pipes)
    try:
        assert HeldCsv.asked.wait(DEADLINE_S), "the scorer never asked for its input"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=DEADLINE_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err[-3000:]
    assert (out, err) == ("", "error: interrupted\n")
    assert output.read_bytes() == b"previous" and sorted(tmp_path.iterdir()) == [output]


@pytest.mark.slow
def test_ctrl_c_on_a_running_server_stops_it_in_one_line_and_exit_130(serving_root, tmp_path) -> None:
    """`mlapp serving serve` (the server process itself) stopped by Ctrl-C once it answers: it
    stops as on SIGTERM, then says so as every command does; it exited 0 without a word."""
    with started(serving_root, tmp_path) as server:
        server["proc"].send_signal(signal.SIGINT)
        code = server["proc"].wait(timeout=DEADLINE_S)
        log = server["log"].read_text()
        assert code == 130, log[-3000:]
        assert log.endswith("\nerror: interrupted\n") and "Traceback" not in log
        assert port_free(server["port"])
