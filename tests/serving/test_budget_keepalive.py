"""A request answered 429 before its body has arrived (``serving.max_concurrency``, the body
budget from ``Content-Length``) keeps its connection: the server drops the rest of the body and
the client retries on it (closing.py). Closed, every refused client of a flood came back as a new
connection through the listen queue, where the traffic port's probes wait and which the probe
port's ``/readyz`` reads (docs/serving.md, "Health probes under overload"). The workers' HTTP
protocol served by uvicorn in a thread, over real sockets; for the idle timer, on an asyncio loop
the test drives, its clock the test's."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from mlapp.serving.admission import BodyBudget, BodyCap
from mlapp.serving.closing import Deadline
from mlapp.serving.endpoint import PredictEndpoint
from mlapp.serving.header_deadline import HeaderDeadline
from mlapp.serving.paths import KnownPaths
from tests.serving.conftest import protocol_server

WAIT_S = 30.0  # only a bound on waiting, never a claim about speed
PASSES = 1000  # passes of an event loop the test drives, at most, for an answer: a bound, not a speed
CAP = BodyCap(10, 100, "params.yaml")  # 1,000 bytes, and a budget of one body at the cap
HEAD = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"


class Scorer:
    async def score_yielding(self, body: bytes) -> bytes:
        return b'{"bytes": %d}' % len(body)


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One answer read from ``sock``: status, headers (lower-case names), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "closed mid-answer"
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_a_429_from_the_budget_keeps_the_connection_for_the_retry() -> None:
    endpoint = PredictEndpoint(
        lambda: Scorer(), lambda status, labels: None, CAP, WAIT_S, BodyBudget(CAP.limit)
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await endpoint(scope, receive, send)

    settings = Deadline(10, 65536, lambda status, labels: None, KnownPaths, WAIT_S, 1 << 20)
    with (
        protocol_server(app, settings) as port,
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as holding,
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as refused,
    ):
        holding.sendall(HEAD + b"x" * 10)  # the whole budget held until the rest arrives
        deadline = time.monotonic() + WAIT_S
        while endpoint.budget.held < CAP.limit:
            assert time.monotonic() < deadline, "the first body was never admitted"
            time.sleep(0.01)
        for _ in range(2):  # the retry comes on the same connection, and is answered there
            refused.sendall(HEAD + b"y" * 1000)
            status, headers, body = answer(refused)
            assert status == 429 and headers["retry-after"] == "1"
            assert "connection" not in headers, headers
            assert b"serving.max_body_bytes_in_flight (1,000)" in body
        holding.sendall(b"x" * 990)
        assert answer(holding)[0] == 200
        refused.sendall(HEAD + b"z" * 1000)  # the budget free again: admitted on the kept connection
        assert answer(refused)[:3:2] == (200, b'{"bytes": 1000}')
    assert endpoint.budget.held == 0


async def busy(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """BentoML's ``max_concurrency`` refusal: a 429 before a byte of the body is read."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 429, "headers": []})
        await send({"type": "http.response.body", "body": b"Too many requests"})


def test_a_429_before_the_body_keeps_the_connection_once_the_body_is_sent() -> None:
    settings = Deadline(10, 65536, lambda status, labels: None, KnownPaths, WAIT_S, 1 << 20)
    with (
        protocol_server(busy, settings) as port,
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock,
    ):
        for body in (b"a" * 1000, b"b" * 1000):
            sock.sendall(HEAD[: -len(b"\r\n\r\n")] + b"\r\n\r\n")  # the head alone: answered at once
            status, headers, answer_body = answer(sock)
            assert status == 429 and headers["retry-after"] == "1" and "connection" not in headers
            assert b"serving.max_concurrency" in answer_body
            sock.sendall(body)  # the rest, dropped: the next request on the connection follows it


class Clock:
    """The event loop's time, as the test sets it: a timer fires when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_idle_timer_is_armed_again_once_a_dropped_body_has_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429 before the body, the rest of the body dropped as it came: its bytes stopped uvicorn's
    keep-alive timer, and the connection, idle again, must close after ``timeout_keep_alive`` as
    any idle one does (closing.py ``on_message_complete``), not stay open for ever. asyncio's own
    loop, its ``time`` the test's: each step runs what is ready, the timers when the clock says."""
    settings = Deadline(10, 65536, lambda status, labels: None, KnownPaths, WAIT_S, 1 << 20)
    monkeypatch.setattr(HeaderDeadline, "settings", settings, raising=False)
    config = uvicorn.Config(busy, http=HeaderDeadline, timeout_keep_alive=2, log_level="warning")
    config.load()
    loop = asyncio.new_event_loop()
    clock = Clock(loop.time())
    monkeypatch.setattr(loop, "time", clock)
    step = lambda: loop.run_until_complete(asyncio.sleep(0))  # noqa: E731  # one pass, never waits
    with socket.create_server(("127.0.0.1", 0)) as listening:
        client = socket.create_connection(listening.getsockname(), timeout=WAIT_S)
        accepted, _ = listening.accept()
    make = lambda: HeaderDeadline(config=config, server_state=ServerState(), app_state={})  # noqa: E731
    transport, protocol = loop.run_until_complete(loop.connect_accepted_socket(make, accepted))
    try:
        client.sendall(HEAD)  # the head alone: answered 429 at once
        for _ in range(PASSES):
            step()
            if protocol.cycle is not None and protocol.cycle.response_complete:
                break
        assert answer(client)[0] == 429
        client.sendall(b"a" * 1000)  # the rest of the body, dropped
        for _ in range(PASSES):
            step()
            if protocol.rest_timer is None:  # the whole body came: the connection stays
                break
        assert protocol.rest_timer is None and not transport.is_closing()
        client.setblocking(False)
        clock.now += 1.9  # idle, under timeout_keep_alive: open
        step()
        with pytest.raises(BlockingIOError):
            client.recv(1)
        clock.now += 0.2  # idle for longer than timeout_keep_alive: the server ends the connection
        step()
        assert client.recv(1) == b"", "the idle connection was kept open: no keep-alive timer"
        assert transport.is_closing()  # closed, not lingering: the body is all in, nothing more to drop
    finally:
        transport.close()
        client.close()
        step()
        loop.close()
