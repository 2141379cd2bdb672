"""A connection closed while its client may still be sending (a 413 answered from
``Content-Length``, a 429, a body cut at the cap, a 431, a malformed request) is closed
gracefully ("lingering close", as nginx does): the answer, then end of output, then what the
client still sends is read and dropped until it closes its end too, for at most
``serving.body_timeout_s`` and ``serving.max_body_bytes_in_flight`` bytes (what the worker
holds of bodies at once). Closed at once with those bytes unread, the kernel resets the
connection: a client that writes its whole request before reading (Python's urllib, many
simple clients) got "connection reset" or "broken pipe" instead of the 413 and its message,
every time once the body was larger than the sockets' buffers (8 MB and up on loopback,
less across a network). Dropping costs the worker 0.2-0.45 ms of CPU per MB (a client
streaming at full loopback speed: 67-70 MB, then closed, 20-30 ms).

``closing.Closing.close`` decides and ``Closing.data_received`` drops; ``Lingering`` is
the transport uvicorn holds, so that its own ``close`` after an answer with
``connection: close`` lingers too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Lingering:
    """The connection's transport as uvicorn sees it: its ``close`` is the protocol's ``close``
    (uvicorn closes the transport it holds after an answer with ``connection: close``), and it
    says it is closing once the protocol lingers (no keep-alive timer, no next request)."""

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None]) -> None:
        self.socket = transport
        self.close = close
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.socket, name)

    def is_closing(self) -> bool:
        return self.lingering or self.socket.is_closing()
