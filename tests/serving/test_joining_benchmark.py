"""benchmarks/joining.py reads each answer whole (else the next one's status is read from a body)
and benchmarks/probe_summary.py (for probes.py) summarises when the wave's connections were first
answered."""

from __future__ import annotations

import asyncio
import json
import runpy
from typing import Any

import pytest

from tests.conftest import REPO


def read_all(raw: bytes) -> list[tuple[int, bool]]:
    """``answer_status`` over ``raw`` until it is used up: each answer's status and close flag."""
    answer_status = runpy.run_path(str(REPO / "benchmarks" / "joining.py"))["answer_status"]

    async def run() -> list[tuple[int, bool]]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        found = []
        while not reader.at_eof():
            found.append(await answer_status(reader))
        return found

    return asyncio.run(run())


def test_answers_are_read_whole_by_length_and_by_chunks() -> None:
    sized = b'HTTP/1.1 429 Too Many Requests\r\nContent-Length: 9\r\nRetry-After: 1\r\n\r\n{"a": 1}\n'
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n200 \r\n3;x=1\r\nOK!\r\n0\r\n\r\n"
    closing = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 2\r\n\r\nHI"
    assert read_all(sized + chunked + closing) == [(429, False), (200, False), (408, True)]


def test_a_cut_answer_is_an_error_not_a_status() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")


def test_wave_summary_counts_connections_never_answered(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    wave_summary = runpy.run_path(str(REPO / "benchmarks" / "probe_summary.py"))["wave_summary"]
    run: dict[str, Any] = {
        "connections": 4,
        "first_answer_s": [3.0, 1.0, 2.0, 4.0],
        "first_200_s": [None, 5.0, None, 6.0],
    }
    summary = wave_summary(json.dumps(run), 4.0)
    assert summary["first_answer"] == {"all_s": 4.0, "p50_s": 3.0, "p90_s": 3.0, "never": 0}
    assert summary["first_200"] == {"all_s": None, "p50_s": None, "p90_s": None, "never": 2}
    assert summary["at_s"] == 4.0
