"""Answers a client does not read: a deadline, and no error when it leaves.

uvicorn writes an answer into the connection's buffer and, once that buffer is over its
high-water mark (the kernel's socket buffers full), waits for the client to read it, with no
time limit. A request waiting there holds its slot of ``serving.max_concurrency``: 300
connections that each pipelined 400 ``GET /docs.json`` and read nothing held every slot of
both workers, and 1-row predictions were 429 for as long as those connections stayed open
(``serving.timeout_s`` cancelled each stuck request after 30 s; the next pipelined one took
its place). ``UnreadDeadline`` aborts a connection whose client has read nothing for
``serving.body_timeout_s`` while answers wait for it (aborted: a close would wait for the
buffer to drain), counted as ``mlapp_rejections_total{field="response",rule="not_read"}``.

And when such a client leaves, uvicorn marks only the last request it parsed as gone, not the
one being answered ahead of the pipelined ones: that one wrote to the closed connection and
was an ERROR with its traceback ("Exception in ASGI application", ~100 lines) per connection,
for any client to repeat at will. Every request of the connection is marked gone here, and the
ones never started are dropped: kept, they left the connection to a rare full garbage collection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mlapp.serving.pipelined import Pipelined


class UnreadDeadline(Pipelined):
    """uvicorn's httptools protocol with a deadline for a client to read its answers."""

    unread_timeout_s: float  # set by the subclass (``header_deadline.HeaderDeadline``)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unread_timer: asyncio.TimerHandle | None = None
        self.answering: RequestResponseCycle | None = None  # the request being answered

    def count_unread(self) -> None:
        """Counts a connection cut off: the subclass's counter. A method, never an attribute
        closing over ``self``: that made each connection a reference cycle, its request freed only
        by a rare full garbage collection (tests/serving/test_connection_freed.py)."""
        raise NotImplementedError

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.unread_timer is None:
            self.unread_timer = self.loop.call_later(self.unread_timeout_s, self.unread)

    def resume_writing(self) -> None:
        self.stop_unread_timer()
        super().resume_writing()

    def unread(self) -> None:
        self.unread_timer = None
        self.count_unread()
        self.transport.abort()  # connection_lost follows: the waiting request ends as a client gone

    def stop_unread_timer(self) -> None:
        if self.unread_timer is not None:
            self.unread_timer.cancel()
            self.unread_timer = None

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self.answering = cycle
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_unread_timer()
        for cycle in (self.answering, self.cycle, *(queued for queued, _ in self.pipeline)):
            if cycle is None:
                continue
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
            # uvicorn never runs the requests still queued now. Each one's ``on_response`` stayed
            # this protocol's method (uvicorn resets it once a request has run): the protocol, those
            # requests and their bodies were a reference cycle, through the pipeline and ``self.cycle``.
            if cycle is not self.answering:
                cycle.on_response = never_run
        super().connection_lost(exc)


def never_run() -> None:
    """A queued request's ``on_response`` once its connection is lost (``connection_lost``)."""
