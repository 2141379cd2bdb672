"""Request lines of an HTTP version the traffic port does not speak, over a raw socket against the
workers' HTTP protocol (``header_deadline.HeaderDeadline``) served by uvicorn in a thread
(``conftest.echo`` as the app); the probe port's are in test_probe_flood.py.

httptools (llhttp) parses ``HTTP/2.0`` and ``HTTP/0.9`` request lines, and a bare ``GET /livez``
as 0.9: each was served, its answer an HTTP/1.1 one. ``HTTP/1.2``, ``HTTP/3.0`` and the HTTP/2
preface were a 400 "malformed HTTP request". Each is now a 505 naming the version, the connection
closed, nothing after it served (``versions.py``)."""

from __future__ import annotations

import socket

import pytest

from tests.serving.conftest import Refusals
from tests.serving.test_upgrade import exchange, payload, request

LIVEZ = request("GET", "/livez")
UNSUPPORTED = [
    (b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/2.0 is not supported"),
    (b"GET /livez HTTP/0.9\r\nHost: x\r\n\r\n", "HTTP/0.9 is not supported"),
    (b"GET /livez\r\n\r\n", "HTTP/0.9 is not supported"),  # HTTP/0.9's own form: no version
    (b"GET /livez HTTP/1.2\r\nHost: x\r\n\r\n", "the request line's HTTP version is not supported"),
    (b"GET /livez HTTP/3.0\r\nHost: x\r\n\r\n", "the request line's HTTP version is not supported"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2.0 is not supported"),  # curl --http2-prior-knowledge
]


IDS = ["http-2.0", "http-0.9", "bare-0.9", "http-1.2", "http-3.0", "http-2-preface"]


@pytest.mark.parametrize(("line", "error"), UNSUPPORTED, ids=IDS)
def test_an_unsupported_version_is_505_and_closes_serving_nothing_after_it(
    echo_port: int, refusals: Refusals, line: bytes, error: str
) -> None:
    refused = len(refusals)
    answers = exchange(echo_port, line + LIVEZ)  # the request behind it is not served: the connection closes
    assert len(answers) == 1, answers
    assert answers[0].startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"), answers
    assert b"connection: close" in answers[0]
    assert payload(answers[0])["error"].startswith(error)
    assert "send the request as HTTP/1.1" in payload(answers[0])["error"]
    assert refusals[refused:] == [(505, {("request", "http_version")})]


def test_a_505_pipelined_behind_a_request_comes_after_its_answer(echo_port) -> None:
    answers = exchange(echo_port, LIVEZ + b"GET /second HTTP/2.0\r\nHost: x\r\n\r\n" + LIVEZ)
    assert [answer[9:12] for answer in answers] == [b"200", b"505"], answers
    assert payload(answers[0])["path"] == "/livez"


def test_a_body_sent_with_an_unsupported_version_is_not_read_as_a_request(echo_port) -> None:
    body = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    line = b"POST /predict HTTP/2.0\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    answers = exchange(echo_port, line + body)
    assert [answer[9:12] for answer in answers] == [b"505"], answers


@pytest.mark.parametrize("version", [b"1.1", b"1.0"])
def test_http_1_1_and_1_0_are_served(echo_port, version) -> None:
    with socket.create_connection(("127.0.0.1", echo_port), timeout=30) as sock:
        sock.sendall(b"GET /livez HTTP/%s\r\nHost: x\r\nConnection: close\r\n\r\n" % version)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 "), received
    assert payload(received)["path"] == "/livez"
