"""The probe port (probes.py): a thread of the worker answers /livez and /readyz from its event
loop's heartbeat and the traffic port's listen queue. The real service in-process (its ASGI
lifespan starts the listener), a wedged loop, a queue of connections nobody accepts, and the
server process's check of the port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from mlapp.serving import PARAMS_ENV, PROBE_HOST_ENV, PROBE_PORT_ENV, TRAFFIC_PORT_ENV, probes, supervise
from mlapp.serving.local import free_port

WAIT_S = 60.0  # generous: only a bound on waiting, never a claim about speed
WEDGE_S = 120.0  # the loop is blocked until the test releases it, at most this long


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, headers={"connection": "close"})


def until(url: str, status: int, saying: str = "") -> httpx.Response:
    """GET ``url`` until it answers ``status`` with ``saying`` in its text (each answer comes from
    the probe thread). Every answer is polled for, the healthy ones too: a test process descheduled
    past the windows below makes the loop's last beat look old until the loop runs again, and the
    probe thread may answer first."""
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = get(url)
        if (answer.status_code == status and saying in answer.text) or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


@pytest.fixture
def probe_url(
    service_module: ModuleType, service_app: Any, traffic: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, TestClient]]:
    """The real service's ASGI app in-process, its probe listener on a free port, with windows short
    enough that the test does not wait long (0.5 s: far above a pass of an idle loop)."""
    port = free_port()
    windows = {"probe_port": port, "probe_live_s": 0.5, "probe_ready_s": 0.5, "probe_ready_backlog": 2}
    monkeypatch.setattr(service_module, "SERVING", service_module.SERVING.model_copy(update=windows))
    monkeypatch.setenv(PROBE_HOST_ENV, "127.0.0.1")
    monkeypatch.setenv(PROBE_PORT_ENV, str(port))  # as supervise.py sets it
    monkeypatch.setenv(TRAFFIC_PORT_ENV, str(traffic.getsockname()[1]))
    with TestClient(service_app) as client:  # lifespan: starts the listener
        yield f"http://127.0.0.1:{port}", client
    with pytest.raises(httpx.TransportError):  # the service stopped: so did its listener
        get(f"http://127.0.0.1:{port}/livez")


def test_the_probe_port_answers_from_the_loop_and_a_wedged_loop_fails_liveness(
    probe_url: tuple[str, TestClient],
) -> None:
    url, client = probe_url
    assert until(f"{url}/livez", 200).status_code == 200
    assert until(f"{url}/readyz", 200).status_code == 200
    assert get(f"{url}/predict").status_code == 404
    assert client.get("/livez").status_code == 200  # the traffic port keeps its own probes
    release = threading.Event()

    async def wedge() -> None:
        release.wait(WEDGE_S)  # a blocking call on the event loop: nothing else runs on it meanwhile

    stuck = client.portal.start_task_soon(wedge)
    try:
        dead = until(f"{url}/livez", 503)
        assert dead.status_code == 503, dead.text
        assert "serving.probe_live_s" in dead.text
        overloaded = get(f"{url}/readyz")
        assert overloaded.status_code == 503 and "serving.probe_ready_s" in overloaded.text
        assert not stuck.done()  # the thread answered while the loop was still blocked
    finally:
        release.set()
    stuck.result(timeout=WAIT_S)
    assert until(f"{url}/livez", 200).status_code == 200  # the loop runs again: live again
    assert until(f"{url}/readyz", 200).status_code == 200


def test_connections_waiting_on_the_traffic_port_make_the_pod_shed(
    probe_url: tuple[str, TestClient], traffic: socket.socket
) -> None:
    """More than ``probe_ready_backlog`` (2 here) connections nobody accepts: not ready, still live."""
    url, _ = probe_url
    clients = [socket.create_connection(traffic.getsockname(), timeout=10) for _ in range(3)]
    try:
        shed = until(f"{url}/readyz", 503, "3 connections wait")  # not a lag of the loop's
        assert shed.status_code == 503, shed.text
        assert "3 connections wait" in shed.text and "serving.probe_ready_backlog" in shed.text
        assert until(f"{url}/livez", 200).status_code == 200
        traffic.accept()[0].close()  # two left: ready again
        assert until(f"{url}/readyz", 200).status_code == 200
    finally:
        for client in clients:
            client.close()


def test_readiness_waits_for_the_service_and_liveness_for_the_loop() -> None:
    heartbeat = probes.Heartbeat()
    checks = probes.Checks(heartbeat, live_s=5, ready_s=1, backlog=lambda: None, max_backlog=0)
    assert checks.livez()[0] == 503  # no beat yet: the loop never ran the timer
    assert checks.readyz() == (503, "not ready: the service is starting or stopping")
    loop = asyncio.new_event_loop()
    try:
        heartbeat.start(loop)
        assert checks.livez() == (200, "live")
        assert checks.readyz()[0] == 503  # beating, but the service is not started
        heartbeat.ready = True
        assert checks.readyz() == (200, "ready")
        heartbeat.stop()
        assert checks.readyz()[0] == 503
    finally:
        loop.close()


def serve_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_port: int, port: int) -> int:
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["serving"]["probe_port"] = probe_port
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv(PARAMS_ENV, str(tmp_path / "params.yaml"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")  # main sets it: restored after the test
    return supervise.main(["--host", "127.0.0.1", "--port", str(port)])


def test_the_server_refuses_a_probe_port_it_cannot_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Held by a socket without SO_REUSEPORT (another program), or the traffic port itself: one
    ``error:`` line naming the setting, exit 2, before any worker starts."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        assert serve_main(tmp_path, monkeypatch, taken, free_port()) == 2
    assert f"cannot listen on 127.0.0.1:{taken} (serving.probe_port)" in capsys.readouterr().err
    port = free_port()
    assert serve_main(tmp_path, monkeypatch, port, port) == 2
    assert "serving.probe_port is the traffic port" in capsys.readouterr().err
