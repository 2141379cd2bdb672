"""Chunk extensions (``1a;name=value``) on the traffic port, over a raw socket against the workers'
HTTP protocol (``header_deadline.HeaderDeadline``) served by uvicorn in a thread (``conftest.echo``
as the app, which answers the body bytes it received).

RFC 9112 (7.1.1): a recipient ignores the chunk extensions it does not understand, and ought to
limit their total length, answering a 4xx past it. llhttp parses and drops them (httptools asks for
none of them: nothing is buffered); they count as chunked framing towards ``serving.max_header_bytes``
like the chunk sizes and trailers, checked after each read (docs/serving.md, Limits)."""

from __future__ import annotations

import pytest

from mlapp.serving import heads
from tests.serving.conftest import Refusals
from tests.serving.test_upgrade import exchange, payload

HEAD = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
HEAD += b"Transfer-Encoding: chunked\r\n\r\n"
DATA = b'{"records": []}'
CAP = 65536  # the echo server's max_header_bytes (conftest.echo_port)


@pytest.mark.parametrize(
    "framing",
    [
        b"%x;a=b\r\n%s\r\n0\r\n\r\n",
        b"%x;flag\r\n%s\r\n0\r\n\r\n",
        b'%x;name="quoted ; value"\r\n%s\r\n0\r\n\r\n',
        b"%x;a=b;c=d\r\n%s\r\n0;last=chunk\r\n\r\n",
        b"%x;pad=" + b"p" * 30_000 + b"\r\n%s\r\n0\r\n\r\n",  # long, within the cap
    ],
    ids=["name-value", "name", "quoted", "several-and-last", "long"],
)
def test_a_chunk_extension_is_read_past_and_the_body_served(echo_port: int, framing: bytes) -> None:
    answers = exchange(echo_port, HEAD + framing % (len(DATA), DATA))
    assert [answer[:12] for answer in answers] == [b"HTTP/1.1 200"], answers
    assert payload(answers[0]) == {"path": "/predict", "body": len(DATA)}


def test_a_chunk_line_past_the_cap_is_431_as_headers_past_it_are(echo_port: int, refusals: Refusals) -> None:
    """The chunk line has not ended when the read that passes the cap is checked: refused there."""
    refused = len(refusals)
    answers = exchange(echo_port, HEAD + b"%x;pad=" % len(DATA) + b"p" * (CAP + 1))
    assert [answer[:12] for answer in answers] == [b"HTTP/1.1 431"], answers
    assert payload(answers[0])["error"] == heads.too_large(CAP, chunked=True)
    assert refusals[refused:] == [(431, {("headers", "header_too_large")})]


def test_whitespace_before_a_chunk_extension_is_400_naming_the_parser_reason(echo_port: int) -> None:
    """RFC 9112's grammar allows it (BWS); llhttp refuses it, one of its defences against request
    smuggling through framing that two parsers read differently: a 400, never served."""
    answers = exchange(echo_port, HEAD + b"%x ;a=b\r\n%s\r\n0\r\n\r\n" % (len(DATA), DATA))
    assert [answer[:12] for answer in answers] == [b"HTTP/1.1 400"], answers
    assert payload(answers[0])["error"].startswith("malformed HTTP request (Invalid character in chunk size)")
