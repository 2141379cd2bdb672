"""A line a killed worker left unfinished in the prediction log is cut before the next batch (predlog.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlapp.serving import predlog

LINE = b'{"id":"a-00000001","features":{"age":40},"probability":0.5,"label":1}\n'


@pytest.mark.parametrize("torn", [LINE[:37], LINE[:1], LINE[:-1], b"x" * (predlog.TAIL_READ + 5)])
def test_a_torn_line_is_cut_before_the_next_batch_is_appended(tmp_path: Path, torn: bytes) -> None:
    """A worker killed mid-write (the kernel stops a large write() between pages) left part of a line;
    the other worker's next batch was appended to it: one invalid line, and the monitor refuses the log."""
    path = tmp_path / "predictions.jsonl"
    dying, other = predlog.JsonlFile(path), predlog.JsonlFile(path)
    dying.write(LINE)
    assert dying._fd is not None
    os.write(dying._fd, torn)  # what a write cut short by SIGKILL leaves: no lock held any more
    other.write(LINE + LINE)
    other.close()
    dying.close()
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(LINE)] * 3


def test_a_file_without_a_newline_is_emptied_and_a_sound_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b'{"id":"a-0000')  # the first batch itself was cut
    sink = predlog.JsonlFile(path)
    sink.write(b"")  # open_log's check at start-up
    assert path.read_bytes() == b""
    sink.write(LINE)
    sink.write(LINE)
    sink.close()
    assert path.read_bytes() == LINE + LINE
