"""How `mlapp serving serve` stops, over HTTP: SIGHUP (the terminal closed) stops it as SIGTERM
does, new connections are refused from the stop signal on, and a worker's temporary folder goes
with it, even when it was killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlapp.serving.local import free_ports
from tests.conftest import server_process
from tests.serving.test_resilience import (
    DEADLINE_S,
    in_flight,
    kill_a_worker,
    port_free,
    refused,
    serving_params,
)

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def started(serving_root: Path, tmp_path: Path, **serving: Any) -> Iterator[dict[str, Any]]:
    """A one-worker server with a probe port and a temporary folder (``TMPDIR``) of its own."""
    probe_port, port = free_ports(2)
    params = serving_params(serving_root, tmp_path, workers=1, probe_port=probe_port, **serving)
    argv = [sys.executable, "-m", "mlapp", "--params", str(params), "serving", "serve", "--port", str(port)]
    temp, log = tmp_path / "tmp", tmp_path / "server.log"
    temp.mkdir()
    env = {**os.environ, "MLAPP_MODEL_DIR": str(serving_root / "models"), "BENTOML_HOME": str(tmp_path)}
    env |= {"MLAPP_PREDICTION_LOG": str(tmp_path / "predictions.jsonl"), "TMPDIR": str(temp)}
    with server_process(argv, port, serving_root, log, env) as (proc, url):
        yield {"proc": proc, "url": url, "port": port, "probe_port": probe_port, "log": log, "temp": temp}


@contextlib.contextmanager
def request_in_flight(
    server: dict[str, Any], records: list[dict[str, Any]]
) -> Iterator[tuple[socket.socket, bytes]]:
    """A /predict request whose body is not all sent: in flight until the rest (also given) is."""
    body = json.dumps({"records": records[:1]}).encode()
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=DEADLINE_S) as held:
        head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        held.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        deadline = time.monotonic() + DEADLINE_S
        while in_flight(server["url"])[0] != 1:
            assert time.monotonic() < deadline, "the request is not in flight"
            time.sleep(0.05)
        yield held, body[10:]


def until_stopping(server: dict[str, Any]) -> None:
    """Until the worker has been told to stop: its /readyz on the probe port says 503."""
    deadline = time.monotonic() + DEADLINE_S
    while httpx.get(f"http://127.0.0.1:{server['probe_port']}/readyz", timeout=10).status_code != 503:
        assert time.monotonic() < deadline, (
            f"the worker is not stopping:\n{server['log'].read_text()[-3000:]}"
        )
        time.sleep(0.02)


def test_sighup_stops_the_server_as_sigterm_does(serving_root, tmp_path, records) -> None:
    """Closing the terminal that runs `make serve` sends SIGHUP: circus took it as "reload" (new
    workers, the server serving on with no terminal). Now it drains and exits 0."""
    with started(serving_root, tmp_path, body_timeout_s=600) as server:
        with request_in_flight(server, records) as (held, rest):
            server["proc"].send_signal(signal.SIGHUP)
            until_stopping(server)
            held.sendall(rest)
            assert held.recv(64).startswith(b"HTTP/1.1 200 ")
        assert server["proc"].wait(timeout=DEADLINE_S) == 0, server["log"].read_text()[-3000:]
        assert port_free(server["port"])


def test_new_connections_are_refused_from_the_stop_signal_on(serving_root, tmp_path, records) -> None:
    """The server stops listening in its signal handler, before its workers are told to stop. A
    stopping worker's listening socket stayed open until its next look at its exit flag (up to
    0.1 s), another's until that one's: clients it answered ``Connection: close`` reconnected in
    that time, were taken into the listen queue and reset when the last copy closed."""
    with started(serving_root, tmp_path, body_timeout_s=600) as server:
        with request_in_flight(server, records) as (held, rest):
            server["proc"].send_signal(signal.SIGTERM)
            until_stopping(server)
            assert refused(server["port"])  # at once: no waiting for it
            held.sendall(rest)
            assert held.recv(64).startswith(b"HTTP/1.1 200 ")
        assert server["proc"].wait(timeout=DEADLINE_S) == 0


def clients(temp: Path) -> list[Path]:
    """BentoML's ``bentoml-client-*`` folders (one per worker: its client of its own service)."""
    return sorted(temp.rglob("bentoml-client-*"))


def test_a_killed_workers_temporary_folder_goes_with_it(serving_root, tmp_path) -> None:
    """Each worker lifetime ended by kill -9 (or the OOM killer) left its ``bentoml-client-*``
    folder in ``TMPDIR`` for good: they piled up over restarts (in a pod, its /tmp volume). The
    server removes a dead worker's folder when it reaps it."""
    with started(serving_root, tmp_path) as server:
        temp = server["temp"]
        assert len(clients(temp)) == 1
        kill_a_worker(server["url"], server["port"], server["log"])
        deadline = time.monotonic() + DEADLINE_S
        while len(found := clients(temp)) != 1:
            assert time.monotonic() < deadline, f"a dead worker's folder stayed: {found}"
            time.sleep(0.05)
        server["proc"].send_signal(signal.SIGTERM)
        assert server["proc"].wait(timeout=DEADLINE_S) == 0
        assert sorted(temp.iterdir()) == []  # nothing of the server's left
