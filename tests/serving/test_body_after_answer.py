"""A request answered before its body has arrived ends its connection: the rest of the body is
read and dropped for at most ``serving.body_timeout_s`` (``closing.Closing.on_response_complete``).
uvicorn kept such a connection open, reading the body with no deadline: a client sending it a
byte a second held the connection for ever (40 s of 40 against ``mlapp serving serve``: a probe,
a 404, a 405 and a 415, each with a 1 MB ``Content-Length``).

The service's app behind the workers' HTTP protocol (``HeaderDeadline``), served by uvicorn in a
thread, with a short linger so that the wait is short. The client sends a byte of the body every
``TRICKLE_S``: each one restarted uvicorn's keep-alive timer (5 s), which closes a silent connection.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import time
from typing import Any

import pytest

from mlapp.serving.header_deadline import HeaderDeadline
from tests.serving.conftest import uvicorn_thread

WAIT_S = 30  # only a bound on waiting, never a claim about speed
LINGER_S = 0.5
TRICKLE_S = 0.2  # well within uvicorn's keep-alive timeout


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /livez HTTP/1.1\r\nHost: x\r\n", b"200"),
        (b"POST /docs.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", b"405"),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n", b"415"),
        (b"POST /nowhere HTTP/1.1\r\nHost: x\r\n", b"404"),
    ],
)
def test_an_answered_request_whose_body_stops_is_closed(service_app: Any, head: bytes, status: bytes) -> None:
    settings = dataclasses.replace(HeaderDeadline.settings, linger_s=LINGER_S)
    with (
        uvicorn_thread(service_app, settings) as (port, _server, _thread),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        sock.sendall(head + b"Content-Length: 1000000\r\n\r\n" + b"x" * 10)
        received, closed = b"", False
        deadline = time.monotonic() + WAIT_S
        while not closed and time.monotonic() < deadline:
            if select.select([sock], [], [], TRICKLE_S)[0]:
                chunk = sock.recv(65536)
                received, closed = received + chunk, not chunk
            else:
                sock.sendall(b"x")  # a byte more of the body
    assert received.split(b" ", 2)[1] == status
    assert closed, f"still open after {WAIT_S} s"
