"""Kept-alive connections while their worker stops (``closing.Closing.shutdown``), against the
workers' HTTP protocol served by uvicorn in a thread (no model), stopped as a signal stops it.

uvicorn closed an idle kept-alive connection at once when it stopped, whatever it had not read:
a client sending its next request as the worker stopped got a reset (23 of ~960 requests of
keep-alive clients sending continuously through a SIGTERM). Now an idle connection is kept for a
short grace: a request on it is answered with ``Connection: close``, then it is closed.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from mlapp.serving import closing
from mlapp.serving.header_deadline import Deadline
from tests.serving.conftest import uvicorn_thread

WAIT_S = 60  # only a bound on waiting, never a claim about speed
SETTINGS = Deadline(10, 65536, lambda _status, _labels: None, lambda app, _count: app, 10, 1 << 20)
REQUEST = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"


async def ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def answer(sock: socket.socket) -> bytes:
    """One answer of ``ok`` (its head and 2-byte body), read from ``sock``."""
    received = b""
    while not (b"\r\n\r\n" in received and received.endswith(b"ok")):
        chunk = sock.recv(4096)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def stop_begun(server: Any, port: int) -> None:
    """Stop the server as a signal does; return once it has stopped listening. It tells its
    connections to stop in the same step of its loop, before it reads anything they send."""
    server.should_exit = True
    deadline = time.monotonic() + WAIT_S
    while not refused(port):
        assert time.monotonic() < deadline, "the server did not stop listening"
        time.sleep(0.02)


def test_a_request_on_an_idle_kept_alive_connection_as_its_worker_stops_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The request must come within the grace: this process descheduled for the grace's second
    # between the stop and the send, the server closed the connection first.
    monkeypatch.setattr(closing, "STOP_GRACE_S", WAIT_S)
    with uvicorn_thread(ok, SETTINGS) as (port, server, thread):
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as idle:
            idle.sendall(REQUEST)
            assert answer(idle).startswith(b"HTTP/1.1 200 ")  # kept alive: idle now
            stop_begun(server, port)
            idle.sendall(REQUEST)  # was reset: the connection closed with it unread
            last = answer(idle)
            assert last.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in last.lower()
            assert idle.recv(1) == b""  # then closed, with nothing unread: an end of input, no reset
        thread.join(WAIT_S)
        assert not thread.is_alive()


def test_an_idle_connection_is_closed_after_the_grace_and_the_worker_stops() -> None:
    with uvicorn_thread(ok, SETTINGS) as (port, server, thread):
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as idle:
            idle.sendall(REQUEST)
            answer(idle)
            stop_begun(server, port)
            assert idle.recv(1) == b""  # closed by the server after the grace: the stop goes on
        thread.join(WAIT_S)
        assert not thread.is_alive()
