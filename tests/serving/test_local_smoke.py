"""`mlapp serving serve --smoke`, the last step of `make run`: the real BentoML server on a free
port of 127.0.0.1, the smoke test over HTTP, a clean stop; nothing left running or written."""

from __future__ import annotations

import contextlib
import errno
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from mlapp.serving.local import free_port, free_ports, local_url
from tests.holding import hold_env, release

DEADLINE_S = 180  # imports, start and stop on a loaded machine


def serve_smoke(serving_root: Path, model_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mlapp", "--params", str(serving_root / "params.yaml"), "serving", "serve"]
    argv += ["--smoke", "--model-dir", str(model_dir), *options]
    return subprocess.run(argv, cwd=serving_root, capture_output=True, text=True, timeout=DEADLINE_S)


@pytest.mark.slow
def test_serves_smoke_tests_and_stops_leaving_nothing_behind(serving_root: Path, tmp_path: Path) -> None:
    """Also `make run` beside `make serve` (or another user's server, any program) on
    serving.probe_port: its server took that port too, so it shared `make serve`'s probes
    (SO_REUSEPORT) or, the port held otherwise, failed to start. It takes a free probe port, as it
    takes a free traffic port: here params' probe port is held throughout the run."""
    root = shutil.copytree(serving_root, tmp_path / "project")
    params = root / "params.yaml"  # every prediction logged: the smoke test's would be, but elsewhere
    params.write_text(re.sub(r"(?m)^  log_sample_rate: \S+", "  log_sample_rate: 1", params.read_text()))
    with socket.create_server(("127.0.0.1", 0)) as held:  # no SO_REUSEPORT: nobody can share it
        taken = held.getsockname()[1]
        params.write_text(re.sub(r"(?m)^  probe_port: \d+", f"  probe_port: {taken}", params.read_text()))
        assert f"  probe_port: {taken}" in params.read_text()
        done = serve_smoke(root, root / "models")
    said = done.stdout[-2000:] + done.stderr[-2000:]
    assert done.returncode == 0, f"params' probe port held by another program: {said}"
    assert re.search(r"ok   /predict: \d+ records match the local model", done.stdout)
    assert "ok   stopped on SIGTERM (exit 0)" in done.stdout
    url = re.search(r"ready after [\d.]+ s: (http://127\.0\.0\.1:\d+) ", done.stdout)
    assert url, done.stdout
    with pytest.raises(httpx.ConnectError):  # the server and its workers are gone
        httpx.get(url[1] + "/livez", timeout=5)
    assert "\n  log_sample_rate: 1" in params.read_text()
    assert not (root / "logs").exists()  # the smoke test's predictions are not traffic for the monitor


def test_a_server_that_cannot_start_fails_at_once_with_its_reason(serving_root: Path, tmp_path: Path) -> None:
    done = serve_smoke(serving_root, tmp_path)  # no model there
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: the local server exited (2) before it was ready:" in done.stderr
    assert f"model {tmp_path / 'model.ubj'} not found: run the pipeline first" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_smoke_test_reads_the_model_without_importing_scikit_learn(serving_root: Path) -> None:
    """`mlapp serving smoke` reads the model to predict the records it sends: xgboost imported
    scikit-learn (its estimator classes, unused: 0.4-0.7 s of the run) as it loaded. The command's
    process, on a URL where nothing listens, after the model is read: xgboost, no scikit-learn."""
    probe = (
        "import atexit, json, sys\n"
        "loaded = lambda: [m for m in ('xgboost', 'sklearn') if sys.modules.get(m)]\n"
        "atexit.register(lambda: print(json.dumps(loaded())))\n"
        "from mlapp.cli import main\n"
        "main()\n"
    )
    argv = ["--params", str(serving_root / "params.yaml"), "serving", "smoke", "--timeout", "0.1"]
    argv += ["--url", f"http://127.0.0.1:{free_port()}", "--model-dir", str(serving_root / "models")]
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        cwd=serving_root,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert done.returncode == 1 and "FAIL" in done.stderr, done.stderr[-2000:]  # nothing listens there
    assert json.loads(done.stdout.splitlines()[-1]) == ["xgboost"], done.stdout


def test_the_port_given_is_the_port_served(serving_root: Path) -> None:
    """--port was ignored under --smoke (a free port was taken): a port in use is now the error."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = serve_smoke(serving_root, serving_root / "models", "--port", str(port))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


def test_a_server_already_on_the_port_is_not_smoke_tested_for_ours(serving_root: Path) -> None:
    """`make serve` on the port: its 200s passed the readiness poll, so the smoke test ran against
    it while our server was still starting, then failed on a stop it never heard of."""

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Healthy) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        port = other.server_address[1]
        done = serve_smoke(serving_root, serving_root / "models", "--port", str(port))
        other.shutdown()
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "ready after" not in done.stdout, done.stdout


@pytest.mark.slow
def test_the_host_and_port_given_are_served_and_smoke_tested(serving_root: Path) -> None:
    port = free_port()
    done = serve_smoke(serving_root, serving_root / "models", "--host", "127.0.0.2", "--port", str(port))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f": http://127.0.0.2:{port} (BentoML" in done.stdout


def test_a_host_name_is_one_error_line_not_bentomls_traceback(serving_root: Path) -> None:
    done = serve_smoke(serving_root, serving_root / "models", "--host", "localhost")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "error: --host 'localhost' is not an IP address (127.0.0.1, 0.0.0.0, ::1)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080"),  # noqa: S104 - every interface: reached on loopback
        ("::", "http://[::1]:8080"),
        ("::1", "http://[::1]:8080"),
        ("localhost", "http://localhost:8080"),
    ],
)
def test_the_smoke_test_reaches_the_interface_served(host: str, url: str) -> None:
    assert local_url(host, 8080) == url


def held_server(process: psutil.Process) -> bool:
    """The server (``mlapp.serving.supervise``, not another child: git, before it starts), held as
    it starts (tests/holding.py)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return "mlapp.serving.supervise" in process.cmdline() and process.status() == psutil.STATUS_STOPPED
    return False


STOPS = {"hangup": signal.SIGHUP, "ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM}


@pytest.mark.slow
@pytest.mark.parametrize("number", STOPS.values(), ids=STOPS.keys())
def test_a_hangup_ctrl_c_or_sigterm_stops_the_server_it_started(
    serving_root: Path, tmp_path: Path, number: int
) -> None:
    """SIGHUP (the terminal that runs `make run` closed) or SIGTERM (`timeout`, `kill`, a CI job
    cancelled) reaches this process, not the server in its own session: it died of it, and the
    server served on with nobody to stop it. Ctrl-C too, as exit 130 and one line.

    The server is held as it imports BentoML until the signal is sent: the parent is then waiting
    for it to be ready, never done (a test paused past the smoke test saw exit 0; a Ctrl-C as the
    parent shut down, death by SIGINT). End to end, through the command; the fast tests of the same
    handling, in this process: test_a_signal_while_the_server_gets_ready_stops_it and
    test_a_signal_while_the_server_starts_stops_it_too."""
    port = free_port()
    argv = [sys.executable, "-m", "mlapp", "--params", str(serving_root / "params.yaml"), "serving", "serve"]
    argv += ["--smoke", "--model-dir", str(serving_root / "models"), "--port", str(port)]
    env = {**os.environ, **hold_env(tmp_path, "bentoml")}  # the server alone imports it
    parent = subprocess.Popen(argv, cwd=serving_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + DEADLINE_S
    while not (servers := [child for child in psutil.Process(parent.pid).children() if held_server(child)]):
        assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
        time.sleep(0.01)
    (server,) = servers
    try:
        parent.send_signal(number)
        release(server.pid)  # the parent's SIGTERM, sent or to come, ends it wherever it goes on
        assert parent.wait(timeout=DEADLINE_S) == 128 + number
        if number == signal.SIGINT:
            assert parent.communicate()[1].decode().strip() == "error: interrupted"
        server.wait(timeout=DEADLINE_S)  # stopped by the parent (psutil.TimeoutExpired: still serving)
    finally:
        with contextlib.suppress(ProcessLookupError):  # without the fix: the orphan and its workers
            os.killpg(server.pid, signal.SIGKILL)


SIGNALS = pytest.mark.parametrize(
    ("number", "raised"),
    [(signal.SIGHUP, SystemExit), (signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)],
    ids=STOPS.keys(),
)


def signal_in_serve_and_smoke(
    serving_root: Path, monkeypatch: pytest.MonkeyPatch, number: int, raised: type[BaseException], during: str
) -> None:
    """``serve_and_smoke`` gets signal ``number`` ``during`` "popen" (the child started, Popen not
    returned yet) or "ready" (waiting for the server to be ready): it ends with ``raised`` (exit
    128 + the number), the server it started stopped."""
    from mlapp.params import load_params
    from mlapp.serving import local

    started: list[subprocess.Popen[bytes]] = []
    real_popen, real_ready = subprocess.Popen, local.ready_after

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        if during == "popen":
            os.kill(os.getpid(), number)  # its handler runs here, before Popen returns
        return started[0]

    def ready_after(*args: Any, **kwargs: Any) -> float:
        if during == "ready":
            os.kill(os.getpid(), number)  # its handler runs here, the server starting
        return real_ready(*args, **kwargs)

    monkeypatch.chdir(serving_root)
    monkeypatch.setattr(local.subprocess, "Popen", popen)
    monkeypatch.setattr(local, "ready_after", ready_after)
    before = {held: signal.getsignal(held) for held in STOPS.values()}
    params_path = serving_root / "params.yaml"
    try:
        # Where no handler of serve_and_smoke's takes a SIGHUP or SIGTERM, its end: as SystemExit
        # here, where dying of it would end the test run.
        signal.signal(signal.SIGHUP, lambda signum, _frame: sys.exit(128 + signum))
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
        with pytest.raises(raised) as exited:
            local.serve_and_smoke(params_path, load_params(params_path), serving_root / "models", print,
                                  port=None, host="127.0.0.1")  # fmt: skip
        if raised is SystemExit:
            assert exited.value.code == 128 + number  # type: ignore[attr-defined]
            assert signal.getsignal(number) is local._exit_stopping  # its own, not the fallback above
        assert started[0].poll() is not None  # stopped, not serving on
    finally:
        for held, handler in before.items():
            signal.signal(held, handler)
        for server in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)


@SIGNALS
def test_a_signal_while_the_server_gets_ready_stops_it(
    serving_root: Path, monkeypatch: pytest.MonkeyPatch, number: int, raised: type[BaseException]
) -> None:
    """SIGHUP (the terminal that runs `make run` closed), SIGTERM (`timeout`, `kill`, a CI job
    cancelled) or Ctrl-C while the server starts in its own session, which none of them reaches:
    this process died of it, and the server served on with nobody to stop it."""
    signal_in_serve_and_smoke(serving_root, monkeypatch, number, raised, "ready")


@SIGNALS
def test_a_signal_while_the_server_starts_stops_it_too(
    serving_root: Path, monkeypatch: pytest.MonkeyPatch, number: int, raised: type[BaseException]
) -> None:
    """SIGHUP, Ctrl-C or SIGTERM inside Popen (the child started, Popen not returned yet): its
    handler ran there and the server was never stopped, serving on its port. Each now waits until
    it can be."""
    signal_in_serve_and_smoke(serving_root, monkeypatch, number, raised, "popen")


def test_picked_ports_differ_and_stay_kept_for_the_server() -> None:
    """A server's traffic and probe ports: two ``free_port()`` calls in a row once returned the
    same port, and the server refused to start with it as both. A port picked and released was
    anybody's until the server bound it: each stays bound (another program's plain bind fails, and
    the kernel's own picks skip it) while a server binds it as servers do (SO_REUSEADDR) and listens."""
    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports:
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", port))
        assert taken.value.errno == errno.EADDRINUSE
        with socket.create_server(("127.0.0.1", port)):  # SO_REUSEADDR, as BentoML's and uvicorn's
            socket.create_connection(("127.0.0.1", port), timeout=30).close()
