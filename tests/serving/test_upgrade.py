"""Requests carrying ``Upgrade``, and refusals pipelined behind other requests, against the workers'
HTTP protocol (``header_deadline.HeaderDeadline``), served by uvicorn in a thread with an app that
echoes the body's length: no model needed.

httptools reads no body after an ``Upgrade`` head and hands back the rest of the read unparsed:
a ``POST /predict`` with ``Upgrade: h2c`` (``curl --http2`` on http://) reached the app with an
empty body, and a request pipelined behind a bodiless ``Upgrade`` request was never answered.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

H2C = "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
WEBSOCKET = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


def exchange(port: int, data: bytes) -> list[bytes]:
    """Send ``data`` in one write, half-close, and split what comes back into answers by their
    ``content-length`` (a 505's message says "HTTP/1.1": no splitting there)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        answers.append(head + b"\r\n\r\n" + rest[:length])
        received = rest[length:]
    return answers


def request(method: str, path: str, extra: str = "", body: bytes = b"") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}{length}\r\n".encode() + body


def payload(answer: bytes) -> dict[str, Any]:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
def test_a_request_pipelined_behind_a_bodiless_upgrade_is_answered(echo_port, upgrade) -> None:
    answers = exchange(echo_port, request("GET", "/livez", upgrade) + request("GET", "/readyz"))
    assert [answer[:12] for answer in answers] == [b"HTTP/1.1 200"] * 2, answers
    assert [payload(answer)["path"] for answer in answers] == ["/livez", "/readyz"]


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
def test_an_upgrade_request_with_a_body_is_400_not_served_without_it(echo_port, refusals, upgrade) -> None:
    body = b'{"records": []}'
    refused = len(refusals)
    answers = exchange(echo_port, request("POST", "/predict", upgrade, body))
    [answer] = answers  # no answer to the body's bytes read as a request, nor an empty body served
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert "send it without Upgrade" in payload(answer)["error"]
    assert refusals[refused:] == [(400, {("request", "upgrade_with_body")})]
    chunked = request("POST", "/predict", upgrade + "Transfer-Encoding: chunked\r\n")
    assert exchange(echo_port, chunked + b"2\r\n{}\r\n0\r\n\r\n")[0].startswith(b"HTTP/1.1 400 ")


def test_an_upgrade_request_with_an_empty_body_is_served(echo_port) -> None:
    [answer] = exchange(echo_port, request("POST", "/predict", H2C + "Content-Length: 0\r\n"))
    assert payload(answer) == {"path": "/predict", "body": 0}


@pytest.mark.parametrize(
    ("refused", "status", "error"),
    [
        (b"GARBAGE / HTTP/1.1\r\n\r\n", 400, "malformed HTTP request"),
        (request("GET", "/livez", "X-Pad: " + "a" * 70_000 + "\r\n"), 431, "serving.max_header_bytes"),
        (
            request("POST", "/predict", H2C, b"{}"),
            400,
            "send it without Upgrade",
        ),  # not its body as a request
    ],
    ids=["malformed", "too-large", "upgrade-with-body"],
)
def test_a_refusal_pipelined_behind_requests_comes_after_their_answers(
    echo_port, refused, status, error
) -> None:
    """Its refusal was written at once: the client read it as the first request's answer, and the
    requests before it were never answered (the connection closed)."""
    answers = exchange(echo_port, request("GET", "/first") + request("GET", "/second") + refused)
    assert [answer[9:12] for answer in answers] == [b"200", b"200", b"%d" % status], answers
    assert [payload(answer)["path"] for answer in answers[:2]] == ["/first", "/second"]
    assert error in payload(answers[2])["error"]


def test_a_head_pipelined_behind_a_request_is_capped_from_its_first_byte(echo_port) -> None:
    """The bytes of a head that arrived in the read ending the request before it were not counted:
    a 70,000-byte head behind two requests was served whenever the reads split after its start."""
    big = request("GET", "/third", "X-Pad: " + "a" * 70_000 + "\r\n")
    with socket.create_connection(("127.0.0.1", echo_port), timeout=30) as sock:
        sock.sendall(request("GET", "/first") + request("GET", "/second") + big[:60_000])
        received = b""
        # The 60,000 bytes in the read ending them, or after; a closed connection ends the wait.
        while received.count(b"HTTP/1.1 200") < 2 and (chunk := sock.recv(65536)):
            received += chunk
        sock.sendall(big[60_000:])
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            received += chunk
    answers = [b"HTTP/1.1 " + answer for answer in received.split(b"HTTP/1.1 ")[1:]]
    assert [answer[9:12] for answer in answers] == [b"200", b"200", b"431"], answers
