"""A one-worker `mlapp serving serve` over HTTP: a killed worker is replaced at once (its
in-flight gauge and per-pid series gone from /metrics), and clients that never finish their
headers do not keep the worker from serving others. A killed server process takes its workers
with it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlapp.serving.local import free_port, free_ports
from tests.conftest import own_probe_port, running_server, wait_ready
from tests.serving.test_admission import server_pids

pytestmark = pytest.mark.slow

DEADLINE_S = 120  # generous: a worker starting on a loaded machine; the log line proves how
REPLACED = "starting its replacement now"


@pytest.fixture(scope="module")
def server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("resilience")
    # One worker; headers and bodies may take their time here (test_admission checks the deadlines).
    serving_params(serving_root, root, workers=1, header_timeout_s=600, body_timeout_s=600)
    port = free_port()
    log = root / "server.log"
    env = {
        **os.environ,
        "MLAPP_MODEL_DIR": str(serving_root / "models"),
        "MLAPP_PREDICTION_LOG": str(root / "predictions.jsonl"),
    }
    argv = [sys.executable, "-m", "mlapp", "--params", str(root / "params.yaml")]
    argv += ["serving", "serve", "--port", str(port), *own_probe_port()]
    with running_server(argv, port, serving_root, log, env=env) as url:
        yield {"url": url, "port": port, "log": log}


def serving_params(serving_root: Path, root: Path, **serving: Any) -> Path:
    """serving_root's params.yaml with ``serving`` changed, written in ``root``."""
    params = yaml.safe_load((serving_root / "params.yaml").read_text())
    params["serving"].update(serving)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root / "params.yaml"


def predict_ok(url: str, records: list[dict[str, Any]]) -> bool:
    answer = httpx.post(f"{url}/predict", json={"records": records[:3]}, timeout=30)
    return answer.status_code == 200 and len(answer.json()) == 3


def kill_a_worker(url: str, port: int, log: Path) -> None:
    """kill -9 of one of the server's workers; wait until it is replaced and /readyz answers."""
    workers = server_pids(port)[1:]
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        now = server_pids(port)[1:]
        if len(now) == len(workers) and workers[0] not in now:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        assert time.monotonic() < deadline, f"not replaced {DEADLINE_S} s after kill -9:\n{log.read_text()}"
        time.sleep(0.05)
    # Replaced because the supervisor heard the exit (SIGCHLD), not on circus's 10 s timer.
    assert REPLACED in log.read_text()
    # A fork of the server process (same command line), not a new interpreter importing it all.
    leader, *_ = server_pids(port)
    for worker in now:
        assert Path(f"/proc/{worker}/cmdline").read_bytes() == Path(f"/proc/{leader}/cmdline").read_bytes()


def requests_counted(url: str) -> float:
    """Requests in ``mlapp_request_rows`` (all workers, the dead ones' files included)."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(map(float, re.findall(r"(?m)^mlapp_request_rows_count(?:\{[^}]*\})? (\S+)$", metrics)))


def count_rises(url: str, above: float) -> float:
    """``requests_counted`` once it exceeds ``above``, bounded: workers write the multiprocess
    metrics files that /metrics reads in batches, on a timer."""
    deadline = time.monotonic() + DEADLINE_S
    while (counted := requests_counted(url)) <= above and time.monotonic() < deadline:
        time.sleep(0.1)
    return counted


def test_a_killed_worker_is_replaced_at_once(server, records) -> None:
    url = server["url"]
    start = requests_counted(url)
    assert predict_ok(url, records)
    before = count_rises(url, start)  # on file before its worker dies (read too early, it was 0)
    kill_a_worker(url, server["port"], server["log"])
    assert predict_ok(url, records)
    # The dead worker's count stays, the replacement's is added: nothing lost, nothing twice.
    assert count_rises(url, before) == before + 1


def oom_score_adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def test_out_of_memory_the_kernel_kills_a_worker_not_the_server_process(server) -> None:
    """The server process has the largest RSS, so the OOM killer chose it: in a container under
    a memory limit every worker died with it and the container exited (137), where a killed
    worker is replaced at once (above)."""
    leader, *workers = server_pids(server["port"])
    assert workers
    assert oom_score_adj(leader) < 1000
    assert [oom_score_adj(worker) for worker in workers] == [1000] * len(workers)


def in_flight(url: str) -> tuple[float, set[str]]:
    """BentoML's /predict requests in progress (all workers' files) and the pids its per-process
    gauge labels."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'(?m)^bentoml_service_request_in_progress\{[^}]*endpoint="/predict"[^}]*\} (\S+)$'
    return sum(map(float, re.findall(pattern, metrics))), set(re.findall(r'\bpid="(\d+)"', metrics))


def test_a_killed_workers_requests_in_flight_leave_the_metrics_with_it(server, records) -> None:
    """kill -9 of a worker with a request in flight: /metrics counted it in progress for the life of
    the server, and kept the dead worker's pid series (one more per replacement)."""
    url, port = server["url"], server["port"]
    assert predict_ok(url, records)  # a request on the worker: its per-pid series exists
    (worker,) = server_pids(port)[1:]
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:  # headers and part of the body: the request is in flight until its body deadline (long here)
        held.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"records": ['
        )
        deadline = time.monotonic() + DEADLINE_S
        while (state := in_flight(url))[0] != 1:
            assert time.monotonic() < deadline, f"not in flight: {state}"
            time.sleep(0.05)
        assert str(worker) in state[1]
        kill_a_worker(url, port, server["log"])
    finally:
        held.close()
    # The supervisor dropped the dead worker's gauges when it reaped it, before the replacement started.
    count, pids = in_flight(url)
    assert count == 0
    assert str(worker) not in pids
    assert predict_ok(url, records)


def test_clients_stuck_in_their_headers_do_not_block_others(server, records) -> None:
    """Until their header deadline (long here), connections that never finish their headers
    stay open; the worker must still serve."""
    port, url = server["port"], server["url"]
    stuck = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
            stuck.append(sock)
        for _ in range(5):
            assert predict_ok(url, records)
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        for sock in stuck:  # none was answered or dropped: they are still waiting
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in stuck:
            sock.close()


def running(pid: int) -> bool:
    """Not exited: a zombie (exited, its new parent has not reaped it yet) has."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a new server binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_killed_server_process_takes_its_workers_with_it(serving_root, tmp_path) -> None:
    """kill -9 of the server process (no stop reaches its workers) left them serving, and holding
    the port, as orphans; the kernel now sends each SIGTERM when it dies."""
    port, probe_port = free_ports(2)
    params = serving_params(serving_root, tmp_path, workers=2, probe_port=probe_port)
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "mlapp", "--params", str(params), "serving", "serve", "--port", str(port)]
    env = {**os.environ, "MLAPP_MODEL_DIR": str(serving_root / "models"), "BENTOML_HOME": str(tmp_path)}
    env["MLAPP_PREDICTION_LOG"] = str(tmp_path / "predictions.jsonl")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=serving_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    workers: list[int] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log)
        leader, *workers = server_pids(port)
        assert leader == proc.pid and workers
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + DEADLINE_S
        while (left := [pid for pid in workers if running(pid)]) or not port_free(port):
            assert time.monotonic() < deadline, (
                f"workers {left} outlived the server:\n{log.read_text()[-3000:]}"
            )
            time.sleep(0.05)
    finally:  # without the fix: the orphans, by their pids
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except TimeoutError:  # queued, never accepted
        return False
    except ConnectionResetError:  # queued as the listener closed (the kernel resets those): ask again
        return False
    return False


def test_a_stopping_server_refuses_new_connections_while_its_requests_in_flight_finish(
    serving_root, tmp_path, records
) -> None:
    """SIGTERM with a request in flight: new connections were taken into the listen queue (the
    server process and the probe listener each still held the socket) until the last worker had
    drained, and reset then; now they are refused at once, /readyz says 503, the request in
    flight is answered, and the server exits 0 with the port free (drain.py)."""
    port, probe_port = free_ports(2)
    params = serving_params(serving_root, tmp_path, workers=1, probe_port=probe_port, body_timeout_s=600)
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "mlapp", "--params", str(params), "serving", "serve", "--port", str(port)]
    env = {**os.environ, "MLAPP_MODEL_DIR": str(serving_root / "models"), "BENTOML_HOME": str(tmp_path)}
    env["MLAPP_PREDICTION_LOG"] = str(tmp_path / "predictions.jsonl")
    body = json.dumps({"records": records[:1]}).encode()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=serving_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        with socket.create_connection(("127.0.0.1", port), timeout=60) as held:
            head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            held.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            deadline = time.monotonic() + DEADLINE_S
            while in_flight(url)[0] != 1:
                assert time.monotonic() < deadline, "the request is not in flight"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            while not refused(port):
                assert time.monotonic() < deadline, f"new connections still taken:\n{log.read_text()[-3000:]}"
                time.sleep(0.05)
            assert httpx.get(f"http://127.0.0.1:{probe_port}/readyz", timeout=10).status_code == 503
            held.sendall(body[10:])
            assert held.recv(64).startswith(b"HTTP/1.1 200 ")
        assert proc.wait(timeout=DEADLINE_S) == 0
        assert port_free(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
