"""A closed connection's protocol is freed when it closes, not by a later garbage collection.

Each connection's protocol (``HeaderDeadline``) holds its request (``RequestResponseCycle``) and
what that holds. A reference cycle through the protocol (an attribute closing over ``self``)
left every closed connection to CPython's cyclic collector, whose full passes are rare: under a
burst of bodies at the cap the serving image peaked ~60 MiB higher (benchmarks/body_burst.py:
596-601 MiB against 536-545 MiB), past what the body budget's bound in tests/delivery/test_infra.py
assumes. Here with the collector off: every protocol must be gone once its connection is.
"""

from __future__ import annotations

import gc
import socket
import time

from mlapp.serving.header_deadline import Deadline, HeaderDeadline
from tests.serving.conftest import echo, uvicorn_thread

WAIT_S = 60  # only a bound on waiting, never a claim about speed
BODY = b"x" * (1 << 20)
CONNECTIONS = 8


def post(port: int) -> bytes:
    """One request with a 1 MiB body on its own connection, read to the server's close."""
    head = b"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + BODY)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def live_protocols() -> int:
    return sum(isinstance(o, HeaderDeadline) for o in gc.get_objects())


def test_closed_connections_are_freed_without_the_cyclic_collector(collector_off) -> None:
    settings = Deadline(10, 65536, lambda _status, _labels: None, lambda a, _c: a, 10, 1 << 20)
    with uvicorn_thread(echo, settings) as (port, server, _thread):
        for _ in range(CONNECTIONS):
            assert post(port).endswith(b'"body": %d}' % len(BODY))
        deadline = time.monotonic() + WAIT_S
        while server.server_state.connections or live_protocols():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # was 8: each closed connection's protocol, and its request, waited for a full collection
        assert not server.server_state.connections
        assert live_protocols() == 0
