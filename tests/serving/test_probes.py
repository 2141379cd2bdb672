"""The probe port (probes.py): a thread of the worker answers /livez and /readyz from its event
loop's heartbeat and the traffic port's listen queue. The real service in-process (its ASGI
lifespan starts the listener), a wedged loop, a queue of connections nobody accepts, and the
server process's check of the port."""

from __future__ import annotations

import asyncio
import math
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
    windows = {
        "probe_port": port,
        "probe_live_s": 0.5,
        "probe_ready_s": 0.5,
        "probe_ready_backlog": 2,
        "probe_ready_backlog_s": 0.5,
    }
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
    """More than ``probe_ready_backlog`` (2 here) connections nobody accepts, for longer than
    ``probe_ready_backlog_s``: not ready, still live."""
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
    checks = probes.Checks(heartbeat, live_s=5, ready_s=1, backlog=probes.Backlog(lambda: None, 0, 0))
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


class Clock:
    """The time the test says it is: a backlog's duration without waiting for it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def backlog_checks(clock: Clock, queue: list[int]) -> probes.Checks:
    """Checks whose listen queue holds ``queue[0]`` connections (bound 16, window 10 s) at ``clock``'s
    time; the loop beating (``ready_s`` infinite: its lag is not under test)."""
    heartbeat = probes.Heartbeat()
    heartbeat.last, heartbeat.ready = time.monotonic(), True
    backlog = probes.Backlog(lambda: queue[0], limit=16, window_s=10, clock=clock)
    return probes.Checks(heartbeat, live_s=5, ready_s=math.inf, backlog=backlog)


def test_readiness_keeps_a_pod_whose_backlog_drains() -> None:
    """A flood's opening burst, accepted one a pass of each worker's loop: 90 queued at once,
    13 a second (as measured), back to the bound in 6 s; 400 at 30 a second, over it for 12.8 s.
    Ready all along."""
    for burst, rate in ((90, 13), (400, 30)):
        clock, queue = Clock(), [burst]
        checks = backlog_checks(clock, queue)
        for tenth in range(200):
            clock.now, queue[0] = 1000 + tenth / 10, max(burst - rate * tenth // 10, 0)
            assert checks.readyz() == (200, "ready"), (burst, tenth, queue[0])


def test_readiness_sheds_a_backlog_that_stays_or_drains_slowly() -> None:
    """Over the bound at every look for 10 s, and at the rate it drained over them, not back to it
    within 10 s more: a new connection would wait longer than that (the workers accept none, or
    about as many arrive as they accept). Not ready until it falls to the bound or drains faster."""
    clock, queue = Clock(), [200]
    checks = backlog_checks(clock, queue)
    for second, waiting in ((0, 200), (5, 190), (9.9, 186)):  # over the bound, under 10 s so far
        clock.now, queue[0] = 1000 + second, waiting
        assert checks.readyz() == (200, "ready")
    clock.now, queue[0] = 1010, 185  # 15 fewer than 10 s ago: 169 over the bound
    status, reason = checks.readyz()
    assert status == 503, reason
    assert "185 connections wait" in reason and "for 10.0 s, 15 fewer than 10 s ago" in reason, reason
    assert "serving.probe_ready_backlog: 16" in reason and "serving.probe_ready_backlog_s: 10" in reason
    clock.now, queue[0] = 1015, 190  # more than before
    assert checks.readyz()[0] == 503
    clock.now, queue[0] = 1025, 100  # 90 fewer than 10 s ago, 84 over the bound: back to it in 10 s
    assert checks.readyz() == (200, "ready")
    clock.now, queue[0] = 1026, 16  # at the bound: the count starts again
    assert checks.readyz() == (200, "ready")
    clock.now, queue[0] = 1027, 500
    assert checks.readyz() == (200, "ready")  # over again, for 0 s so far
    clock.now, queue[0] = 1037, 300  # 200 fewer: 284 over the bound would take 14 s more
    assert checks.readyz()[0] == 503


def test_the_loop_looks_at_the_backlog_with_each_beat() -> None:
    """A queue that fell to the bound between two probes is seen: the loop looked meanwhile."""
    clock, queue = Clock(), [40]
    backlog = probes.Backlog(lambda: queue[0], limit=16, window_s=10, clock=clock)
    heartbeat = probes.Heartbeat(on_beat=backlog.look)
    checks = probes.Checks(heartbeat, live_s=5, ready_s=math.inf, backlog=backlog)
    loop = asyncio.new_event_loop()
    try:
        heartbeat.start(loop)
        heartbeat.ready = True
        assert checks.readyz() == (200, "ready")  # a probe: 40 waiting, over the bound from now on
        clock.now, queue[0] = 1005, 3  # drained between probes
        heartbeat.beat(loop)  # the loop's next beat sees it
        heartbeat.stop()  # no timer left on the loop
        heartbeat.ready = True
        clock.now, queue[0] = 1012, 40  # over again at the next probe: for 0 s, not 12
        assert checks.readyz() == (200, "ready")
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
