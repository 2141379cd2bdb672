"""Each kind of request the service answers leaves nothing of its connection once it is closed,
without the cyclic garbage collector (``test_connection_freed.py`` for why: a reference cycle
through a connection's protocol or request left it, and its body, to a rare full collection).

The service's app behind the workers' HTTP protocol (``HeaderDeadline``), served by uvicorn in a
thread, with the collector off: a prediction, a 400, a 413, a 401, a 429 (the worker's body budget
full), a client gone mid-body, one gone with requests pipelined behind the one being answered, and
a head that never completes (408).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import socket
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mlapp.serving import auth
from mlapp.serving.header_deadline import HeaderDeadline
from tests.serving.conftest import uvicorn_thread

WAIT_S = 60  # only a bound on waiting, never a claim about speed
CONNECTIONS = 4


def cyclic() -> tuple[int, int]:
    """Protocols and requests that only the cyclic collector would free: the garbage a collection
    finds, kept (``DEBUG_SAVEALL``) to be counted. One still referenced is not counted: BentoML's
    timeout timer holds a finished request's ``receive`` for ``serving.timeout_s``, and frees it then."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        garbage, gc.garbage[:] = gc.garbage[:], []
    finally:
        gc.set_debug(0)
    return (
        sum(isinstance(o, HeaderDeadline) for o in garbage),
        sum(isinstance(o, RequestResponseCycle) for o in garbage),
    )


def exchange(port: int, data: bytes, whole: bool = True) -> bytes:
    """Send ``data`` on a new connection; read to the server's close (``whole``), or close at once.
    The answer's status line."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        answer = b""
        while whole and (chunk := sock.recv(65536)):
            answer += chunk
    return answer.partition(b"\r\n")[0]


def post(body: bytes, length: int | None = None, connection: bytes = b"close") -> bytes:
    size = len(body) if length is None else length
    return (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (connection, size, body)
    )


def served(app: Any, data: bytes, status: bytes, timeout_s: float | None = None) -> tuple[int, int]:
    """``data`` sent on ``CONNECTIONS`` connections to ``app``, each answered ``status`` (none: the
    client leaves once it is sent); what is left to the cyclic collector once all are closed."""
    settings = HeaderDeadline.settings
    if timeout_s is not None:
        settings = dataclasses.replace(settings, timeout_s=timeout_s)
    with uvicorn_thread(app, settings) as (port, server, _thread):
        for _ in range(CONNECTIONS):
            assert exchange(port, data, whole=bool(status)) == status
        deadline = time.monotonic() + WAIT_S
        while (server.server_state.connections or server.server_state.tasks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.server_state.connections
        return cyclic()


def body(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"records": records}).encode()


def test_a_prediction(service_app, records, collector_off) -> None:
    assert served(service_app, post(body(records[:50])), b"HTTP/1.1 200 OK") == (0, 0)


def test_a_bad_field(service_app, records, collector_off) -> None:
    bad = [{**records[0], "nope": 1}]
    assert served(service_app, post(body(bad)), b"HTTP/1.1 400 Bad Request") == (0, 0)


def test_an_oversize_body(service_app, collector_off) -> None:
    request = post(b"x" * 65536, length=1 << 30)
    assert served(service_app, request, b"HTTP/1.1 413 Request Entity Too Large") == (0, 0)


def test_a_missing_token(service_app, records, collector_off) -> None:
    token = auth.Tokens("secret", None)
    guarded = auth.BearerAuth(service_app, api=token, metrics=token)
    assert served(guarded, post(body(records[:5])), b"HTTP/1.1 401 Unauthorized") == (0, 0)


def test_a_full_body_budget(service_module, service_app, records, collector_off, monkeypatch) -> None:
    budget = service_module.PREDICT.budget
    monkeypatch.setattr(budget, "held", budget.limit)
    assert served(service_app, post(body(records[:5])), b"HTTP/1.1 429 Too Many Requests") == (0, 0)


def test_a_client_gone_mid_body(service_app, records, collector_off) -> None:
    whole = body(records)
    assert served(service_app, post(whole[: len(whole) // 2], len(whole)), b"") == (0, 0)


def test_a_client_gone_with_requests_pipelined(service_app, records, collector_off) -> None:
    # uvicorn never runs the queued requests of a connection lost: each one's ``on_response`` stayed
    # the protocol's method, the protocol's pipeline held them (4 protocols, 8 requests were left)
    assert served(service_app, post(body(records), connection=b"keep-alive") * 4, b"") == (0, 0)


def test_a_head_never_completed(service_app, collector_off) -> None:
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\n"
    assert served(service_app, head, b"HTTP/1.1 408 Request Timeout", timeout_s=0.2) == (0, 0)
