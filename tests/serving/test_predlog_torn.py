"""A line a killed worker left unfinished in the prediction log is cut before the next batch is appended."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlapp.serving import predlog_file

LINE = b'{"id":"a-00000001","features":{"age":40},"probability":0.5,"label":1}\n'


@pytest.mark.parametrize("torn", [LINE[:37], LINE[:1], LINE[:-1], b"x" * (predlog_file.TAIL_READ + 5)])
def test_a_torn_line_is_cut_before_the_next_batch_is_appended(tmp_path: Path, torn: bytes) -> None:
    """A worker killed mid-write (the kernel stops a large write() between pages) left part of a line;
    the other worker's next batch was appended to it: one invalid line, and the monitor refuses the log."""
    path = tmp_path / "predictions.jsonl"
    dying, other = predlog_file.JsonlFile(path), predlog_file.JsonlFile(path)
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
    sink = predlog_file.JsonlFile(path)
    sink.write(b"")  # open_log's check at start-up
    assert path.read_bytes() == b""
    sink.write(LINE)
    sink.write(LINE)
    sink.close()
    assert path.read_bytes() == LINE + LINE


FILLING = """
import os, resource, signal, sys
from mlapp.serving import predlog_file

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing
sink = predlog_file.JsonlFile(predlog_file.Path(sys.argv[1]))
sink.write(sys.argv[2].encode())
room = os.fstat(sink._fd).st_size + len(sys.argv[2]) // 2
resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
try:
    sink.write(sys.argv[2].encode() * 3)
except OSError as exc:
    print(exc.errno)
"""


def test_a_batch_the_disk_has_no_room_for_leaves_no_part_of_it(tmp_path: Path) -> None:
    """On a filled tmpfs the kernel wrote part of a batch, then refused (ENOSPC): its whole rows
    were counted failed and stayed, its torn line was cut at the next write as a killed writer's.
    A file size limit makes the kernel do the same here (EFBIG), without a full disk."""
    path = tmp_path / "predictions.jsonl"
    done = subprocess.run([sys.executable, "-c", FILLING, str(path), LINE.decode()],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.split() == [str(errno.EFBIG)]
    assert path.read_bytes() == LINE
