"""The HTTP versions both ports serve (the traffic port, ``header_deadline.py``, and the probe port,
``probe_listener.py``), and the answer to any other: 505 HTTP Version Not Supported (RFC 9110
15.6.6), the connection closed.

Both parsers took more than they serve: httptools (llhttp) parses ``HTTP/2.0`` and ``HTTP/0.9``
request lines (and a bare ``GET /path``, read as 0.9), h11 any ``HTTP/<digit>.<digit>``, and each
request was served with an HTTP/1.1 answer, as if it had said 1.1. The versions llhttp refuses
(``HTTP/1.2``, ``HTTP/3.0``) and the HTTP/2 connection preface (``PRI * HTTP/2.0``) were a 400
"malformed HTTP request" (``Invalid HTTP version``, ``Pause on PRI/Upgrade``): now the same 505.
"""

from __future__ import annotations

SERVED = ("1.1", "1.0")
# llhttp's reasons (httptools.HttpParserError) for a version it does not parse, and the version each
# means when known: the preface of an HTTP/2 client with prior knowledge (``curl --http2-prior-knowledge``).
PARSER_REASONS = {"Invalid HTTP version": None, "Pause on PRI/Upgrade": "2.0"}


def unsupported(version: str | None) -> str:
    """The 505's message for a request line of HTTP/``version`` (``None``: one the parser did not read)."""
    sent = f"HTTP/{version}" if version is not None else "the request line's HTTP version"
    return f"{sent} is not supported: this port speaks HTTP/1.1 (and HTTP/1.0); send the request as HTTP/1.1"
