"""Requests pipelined on one connection (sent before the answers to those ahead of them): how many
wait, and what each one's task starts with. The base of the workers' HTTP protocol
(``unread.UnreadDeadline``, ``closing.Closing``, ``header_deadline.HeaderDeadline`` on top).

uvicorn pauses reading when a request's head arrives behind one not yet answered, and queues it;
but each answer resumed reading, and so did each queued request once started (asking for its
body, already read), while requests still waited: every read of up to 256 KB added more to the
queue, each with the body bytes read for it. One client pipelining ``POST /docs.json`` (a 405
whose body is never read) with 200 KB bodies, each followed by ``GET /livez``, held 339 MB of
queued bodies at once in the test's process; three such clients took a worker from 356 MB to
1,069 MB in 5.7 s. ``QueueFlow`` reads nothing while a request waits in the queue: a request
that needs the rest of its body is the last one read, so the queue is empty when it runs. At
most one read's requests wait, and of them at most ``MAX_QUEUED`` parsed (below).

And a pipelined request's task was started from the end of the answer before it, in that
request's task: it inherited that request's context variables (BentoML's ``request`` and
``response``). BentoML's timeout middleware arms a timer in every request, never cancelled, that
kept the context of its moment for ``serving.timeout_s`` (``timeout.py`` cancels it now): each
pipelined request kept the one before it alive (its scope, its unread body) for 30 s, and 2,000
of those pairs on one connection grew a worker from 316 MB to 683 MB in 2.8 s. Each request's
task now starts in a copy of the connection's context, as a request that is not pipelined does.

And one read's worth of small requests is thousands of them: 256 KB of ``GET /livez`` is 7,700
requests, each parsed into uvicorn's request objects (~800 B each, ~6 MB a connection), where
its bytes were 34 B. 200 connections pipelining them and reading no answer took a worker from
164 MB to 1,029 MB until they went. Parsing stops once ``MAX_QUEUED`` requests wait: the rest of
the read waits as bytes (``backlog``, reading still held) and is parsed as those requests start
(``header_deadline.HeaderDeadline.read`` parses a slice at a time, ``SLICE_BYTES``, to see when).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

MAX_QUEUED = 32  # requests parsed and waiting on a connection, at most (plus one slice's)
SLICE_BYTES = 4096  # what is parsed before looking again: at most ~220 requests (``GET / HTTP/1.1``)


class QueueFlow(FlowControl):
    """uvicorn's flow control, reading held while a request waits in ``queued``."""

    def __init__(self, transport: asyncio.Transport, queued: deque[Any], backlog: bytearray) -> None:
        super().__init__(transport)
        # The protocol's pipeline and backlog, not the protocol: no reference cycle.
        self.queued, self.backlog = queued, backlog

    def resume_reading(self) -> None:
        if not self.queued and not self.backlog:
            super().resume_reading()


class Pipelined(HttpToolsProtocol):
    """uvicorn's httptools protocol: at most one read's requests queued, each task in its own context."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.backlog = bytearray()  # read, not parsed: the requests after ``MAX_QUEUED`` waiting ones
        self.flow = QueueFlow(self.transport, self.pipeline, self.backlog)
        # The context the loop calls this connection in: a request that is not pipelined starts there.
        self.base_context = contextvars.copy_context()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self.base_context.copy().run(super()._start_asgi_task, cycle, app)

    def full(self) -> bool:
        """Enough requests wait: what follows them stays bytes, in ``backlog``."""
        return len(self.pipeline) >= MAX_QUEUED

    def on_response_complete(self) -> None:
        super().on_response_complete()  # resumes reading, unless requests wait; starts the next
        if self.backlog and not self.full() and not self.transport.is_closing():
            held = bytes(self.backlog)
            self.backlog.clear()
            self.data_received(held)  # parsed until enough wait again
        if not self.pipeline and not self.transport.is_closing():
            self.flow.resume_reading()  # the last one queued is under way: read what follows

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.pipeline.clear()  # never run now; the flow control holds the pipeline
        self.backlog.clear()
