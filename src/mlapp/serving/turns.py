"""Prediction work takes turns on a worker's event loop, so the loop keeps polling its sockets.

A request's CPU work (parse, validate, predict, render) runs on the event loop in steps of
``serving.chunk_rows`` rows (``ModelService.steps``). When every request in flight ran its
next step on each pass of the loop, a pass under a flood took as long as all their steps (up
to 256 requests per worker), and ``/livez``, which needs a few passes on a new connection,
took 2.4 s (median) and up to 3.8 s against its 3 s probe timeout: 600 connections of
1,000-row requests, load 7-8 on 2 shared cores (benchmarks/probes.py, docs/serving.md). A
probe waits in no queue of ours (BentoML's ``max_concurrency`` lets probes by): its time was
the loop's passes (and, with uvloop, its place in the listen queue: one connection is
accepted per pass; docs/serving.md).

``Turns`` runs the steps of every request in flight itself, round robin, at most
``serving.loop_slice_ms`` of them per pass (at least one step), then lets the loop poll its
sockets: probes, new connections and refusals wait about that long, not for every step in
flight. Nothing moves to a thread: the GIL stays with the loop, and a request's steps still
interleave with the others' (a large request cannot stall small ones).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Generator
from typing import Generic, TypeVar

T = TypeVar("T")
Steps = Generator[None, None, T]


class Turns(Generic[T]):
    def __init__(self, slice_s: float) -> None:
        self.slice_s = slice_s
        self.waiting: deque[tuple[Steps[T], asyncio.Future[T]]] = deque()
        self.scheduled = False

    async def run(self, steps: Steps[T]) -> T:
        """The generator's return value, its steps run in turn with the other requests'."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self.waiting.append((steps, done))
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.work, loop)
        return await done  # a cancelled request (timeout) cancels ``done``: its steps stop

    def work(self, loop: asyncio.AbstractEventLoop) -> None:
        """One pass: steps round robin until the slice is spent, then back to the loop."""
        deadline = time.perf_counter() + self.slice_s
        while self.waiting:
            steps, done = self.waiting.popleft()
            if done.cancelled():
                steps.close()
                continue
            try:
                next(steps)
            except StopIteration as finished:
                done.set_result(finished.value)
            except Exception as exc:  # a refusal (400) or a bug: the request's own task raises it
                done.set_exception(exc)
            else:
                self.waiting.append((steps, done))
            if time.perf_counter() >= deadline:
                break
        self.scheduled = bool(self.waiting)
        if self.scheduled:
            loop.call_soon(self.work, loop)
