"""Answers a client does not read (``unread.py``), against the workers' HTTP protocol served by
uvicorn in a thread: an app whose answer (4 MB, in 1 MB parts) outgrows the sockets' buffers.

A request whose answer waited for such a client held its ``max_concurrency`` slot for as long
as the connection stayed open; and when the client left, the request being answered wrote to
the closed connection: an ERROR with its traceback, per connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mlapp.serving.header_deadline import Deadline
from tests.serving.conftest import protocol_server

UNREAD_S = 1  # serving.body_timeout_s here: how long answers may wait unread
WAIT_S = 60  # only a bound on waiting, never a claim about speed
PART = b"x" * (1 << 20)


class Big:
    """An app answering 4 MB in four parts; it records each request's end and any error."""

    def __init__(self) -> None:
        self.waiting = threading.Event()  # a part was sent while the client reads nothing
        self.ended: list[str] = []
        self.errors: list[BaseException] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            headers = [(b"content-length", b"%d" % (4 * len(PART)))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for i in range(4):
                if i:
                    self.waiting.set()
                await send({"type": "http.response.body", "body": PART, "more_body": i < 3})
            self.ended.append("answered")
        except BaseException as exc:
            self.errors.append(exc)
            raise


@pytest.fixture
def served() -> Iterator[tuple[int, Big, list[set[tuple[str, str]]]]]:
    app, counted = Big(), []
    count = lambda _status, labels: counted.append(labels)  # noqa: E731
    with protocol_server(app, Deadline(10, 65536, count, lambda a, _c: a, UNREAD_S, 1 << 20)) as port:
        yield port, app, counted


def reads_nothing(port: int, requests: int) -> socket.socket:
    """A connection that pipelines ``requests`` GETs and never reads (a small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * requests)
    return sock


def until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_a_client_reading_nothing_is_cut_off_and_its_request_ends(served) -> None:
    port, app, counted = served
    with reads_nothing(port, 3):
        until(lambda: {("response", "not_read")} in counted)  # was never: the request held its slot
        until(lambda: app.ended or app.errors)
    assert app.errors == [] and app.ended  # its slot is free (uvicorn drops what it sends to a client gone)


def test_a_client_leaving_with_answers_unread_is_no_error(served) -> None:
    port, app, _ = served
    sock = reads_nothing(port, 3)
    assert app.waiting.wait(WAIT_S)
    sock.close()  # while the first answer waits and two more are pipelined behind it
    until(lambda: app.ended or app.errors)
    assert app.errors == []  # was RuntimeError: writing to the closed connection, logged as an ERROR
