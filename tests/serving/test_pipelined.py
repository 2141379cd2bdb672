"""Requests pipelined on one connection hold at most one read's worth of queued requests, and keep
nothing of each other alive (``src/mlapp/serving/pipelined.py``).

The service's app behind the workers' HTTP protocol (``HeaderDeadline``), served by uvicorn in a
thread. The requests are pairs: ``POST /docs.json`` with a body (a 405: the body is never read),
then ``GET /livez``.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mlapp.serving.header_deadline import Deadline, HeaderDeadline
from mlapp.serving.pipelined import MAX_QUEUED, SLICE_BYTES
from tests.serving.conftest import uvicorn_thread

WAIT_S = 60  # only a bound on waiting, never a claim about speed
MARKER = (b"x-pipelined", b"yes")


def pair(body_bytes: int) -> bytes:
    return (
        b"POST /docs.json HTTP/1.1\r\nHost: x\r\nX-Pipelined: yes\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s"
        % (body_bytes, b"x" * body_bytes)
        + b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
    )


def pipeline(port: int, requests: bytes) -> bytes:
    """``requests`` written from a thread while the answers are read, to the server's close."""
    last = b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(WAIT_S)
        writer = threading.Thread(target=sock.sendall, args=(requests + last,))
        writer.start()
        answers = b""
        while chunk := sock.recv(1 << 20):
            answers += chunk
        writer.join(WAIT_S)
    return answers


def test_queued_requests_hold_at_most_a_read(service_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each answer resumed reading while requests waited: 200 pairs of 64 KiB bodies held ~3-13 MB
    # of queued bodies at once (growing with the client's pace); one read is at most 256 KiB.
    held = [0]
    on_body = HeaderDeadline.on_body

    def counting(self: HeaderDeadline, body: bytes) -> None:
        on_body(self, body)
        held[0] = max(held[0], sum(len(cycle.body) for cycle, _app in self.pipeline))

    monkeypatch.setattr(HeaderDeadline, "on_body", counting)
    with uvicorn_thread(service_app, HeaderDeadline.settings) as (port, _server, _thread):
        answers = pipeline(port, pair(65536) * 200)
    assert answers.count(b"HTTP/1.1 405 ") == 200 and answers.count(b"HTTP/1.1 200 ") == 201
    assert 0 < held[0] <= 512 * 1024


def test_requests_keep_nothing_of_the_request_before(service_app: Any) -> None:
    # Each probe's task inherited the 405's context, which BentoML's timeout timer kept for
    # serving.timeout_s (30 s), the 405's unread body with it: 50 of 50 alive after the connection closed.
    with uvicorn_thread(service_app, HeaderDeadline.settings) as (port, server, _thread):
        answers = pipeline(port, pair(65536) * 50)
        assert answers.count(b"HTTP/1.1 405 ") == 50 and answers.count(b"HTTP/1.1 200 ") == 51
        deadline = time.monotonic() + WAIT_S
        while (server.server_state.connections or server.server_state.tasks) and time.monotonic() < deadline:
            time.sleep(0.05)
        gc.collect()
        cycles = [o for o in gc.get_objects() if isinstance(o, RequestResponseCycle)]
        assert [c for c in cycles if MARKER in c.scope["headers"]] == []


class Gated:
    """An app answering each request with its path, the first one only once ``release`` is called."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.gate is None:
            self.loop, self.gate = asyncio.get_running_loop(), asyncio.Event()
            await self.gate.wait()
        body = scope["path"].encode()
        headers = [(b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def release(self) -> None:
        assert self.loop is not None and self.gate is not None
        self.loop.call_soon_threadsafe(self.gate.set)


def small_requests(count: int) -> bytes:
    return b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(count))


def answered_paths(answers: bytes) -> list[str]:
    return [answer.split(b"\r\n\r\n", 1)[1].decode() for answer in answers.split(b"HTTP/1.1 ")[1:]]


@pytest.mark.parametrize("max_header_bytes", [1 << 20, 65536], ids=["queue", "head-cap"])
def test_small_requests_wait_as_bytes_once_enough_are_parsed(
    max_header_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read (256 KB) of small requests was parsed at once: 10,000 ``GET /n`` behind one
    not answered yet queued ~7,700 request objects (~6 MB a connection). And each head of a read
    counted towards the cap on the next one: 64 KiB of pipelined heads was a 431."""
    app, count, most = Gated(), 10_000, [0]
    on_headers_complete = HeaderDeadline.on_headers_complete

    def counting(self: HeaderDeadline) -> None:
        on_headers_complete(self)
        most[0] = max(most[0], len(self.pipeline))

    monkeypatch.setattr(HeaderDeadline, "on_headers_complete", counting)
    settings = Deadline(WAIT_S, max_header_bytes, lambda *_: None, lambda app, _count: app, WAIT_S, 1 << 20)
    last = b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with (
        uvicorn_thread(app, settings) as (port, _server, _thread),
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock,
    ):
        writer = threading.Thread(target=sock.sendall, args=(small_requests(count) + last,))
        writer.start()
        deadline = time.monotonic() + WAIT_S
        while most[0] < MAX_QUEUED or app.gate is None:  # the first waits for ``release``, the rest queue
            assert time.monotonic() < deadline, f"{most[0]} requests queued"
            time.sleep(0.01)
        app.release()
        answers = b""
        while chunk := sock.recv(1 << 20):
            answers += chunk
        writer.join(WAIT_S)
    smallest = len(b"GET /0 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert most[0] <= MAX_QUEUED + SLICE_BYTES // smallest
    assert answered_paths(answers) == [f"/{i}" for i in range(count)] + ["/last"]
