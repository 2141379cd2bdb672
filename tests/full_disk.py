"""A real small disk for tests of what a full one does: a tmpfs, mounted as root, else skipped."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str = "4m", inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount`` (made), unmounted after; the test is skipped where it
    cannot be mounted (not root, a container without CAP_SYS_ADMIN). ``inodes``: how many files
    and folders it holds, its root folder one of them."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    options = f"size={size}" + (f",nr_inodes={inodes}" if inodes else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take every free byte of ``disk`` but ``leave``, in a file that gives them back when deleted."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    with filler.open("wb") as out:
        os.posix_fallocate(out.fileno(), 0, stat.f_bavail * stat.f_frsize - leave)
    return filler
