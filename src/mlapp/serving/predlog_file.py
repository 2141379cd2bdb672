"""The prediction log's file: whole batches of JSONL lines appended by every worker of a server.

Each batch of lines is one ``write()`` on a file opened with ``O_APPEND``, under a lock on
the file, so workers of one server can share the file without interleaving lines; a line a
killed worker left unfinished is cut before the next batch (``cut_torn_line``). If the file is moved away
(log rotation, a shipper picking it up), the next write starts a new one at the path. At
``serving.log_max_bytes`` the writer moves it to ``<path>.1`` itself (replacing the previous
one), so an unattended log stays under about twice that on disk.

What goes into the lines, and when they are written, is ``predlog.py``'s.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)
TAIL_READ = 65536  # looking back for a file's last newline: a line is at most a few KB


class Sink(Protocol):
    """Where log lines go. ``JsonlFile`` by default; another sink (a queue, a socket)
    implements ``write`` for whole lines and ``close``."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class JsonlFile:
    """Appends to a local file, re-created if it was moved or deleted; moved to ``<path>.1``
    once it holds ``max_bytes`` (None: never)."""

    def __init__(self, path: Path, max_bytes: int | None = None) -> None:
        self.path, self.max_bytes = path, max_bytes
        self._fd: int | None = None
        self._inode: int | None = None

    def _descriptor(self) -> int:
        if self._fd is not None:
            try:
                if self.path.stat().st_ino == self._inode:
                    return self._fd
            except FileNotFoundError:
                pass
            self.close()  # rotated away: write to a new file at the path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)  # read: cut_torn_line
        self._fd, self._inode = fd, os.fstat(fd).st_ino
        return fd

    def write(self, data: bytes) -> None:
        fd = self._descriptor()
        view = memoryview(data)
        fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time: a torn tail is cut before anyone appends
        try:
            cut_torn_line(fd)
            whole = os.fstat(fd).st_size
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:
                # a batch whole or not at all: a full disk kept part of one (counted failed) and a torn line
                os.ftruncate(fd, whole)
                raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        if self.max_bytes is not None and os.fstat(fd).st_size >= self.max_bytes:
            self._rotate(fd)

    def _rotate(self, fd: int) -> None:
        """Move the full file to ``<path>.1``. Every worker of the server may find it full at
        once: the lock on the file lets one move it; the others find the path is another file
        (or none yet) and only reopen, so no worker moves a fresh file over the full one."""
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_ino == self._inode:
                    self.path.replace(self.path.with_name(self.path.name + ".1"))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._inode = None


def cut_torn_line(fd: int) -> None:
    """Truncate the file after its last newline. A write cut by a signal (a worker killed by kill -9
    or the OOM killer while its batch was being written) leaves part of a line, and the next batch
    appended to it made one invalid line: `mlapp monitor run --source` refuses the whole log then
    (2 GB written by workers killed 8 times under load: one such line). Only under the lock that
    every writer of the file holds, so no append is running."""
    end = os.fstat(fd).st_size
    if not end or os.pread(fd, 1, end - 1) == b"\n":
        return
    size = end - 1
    while size:
        start = max(0, size - TAIL_READ)
        newline = os.pread(fd, size - start, start).rfind(b"\n")
        if newline >= 0:
            size = start + newline + 1
            break
        size = start
    os.ftruncate(fd, size)
    logger.warning("prediction log: cut %d bytes of a line a stopped writer left unfinished", end - size)
