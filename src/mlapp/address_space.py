"""Room left under an address-space limit (`ulimit -v`, ``RLIMIT_AS``), checked before a step that
maps a lot at once, where running out is no error a program can catch.

Loading XGBoost loads scipy's OpenBLAS, which retries a buffer it cannot map for ever at 100% CPU
(`mlapp serving score` under `ulimit -v 500000` spun for 10 minutes); a library that cannot be
mapped is an ImportError, and a thread pool that cannot start a thread aborts the process. Refused
before, the command ends in one line naming the limit instead.
"""

from __future__ import annotations

import resource
from pathlib import Path

from mlapp.errors import UserError

STATUS = Path("/proc/self/status")
MIB = 2**20
# `import xgboost` (with scipy, one OpenBLAS thread) maps ~180-190 MiB, reading the sample model's
# booster ~72 MiB more (VmSize before and after, Python 3.11, xgboost 3.2, scipy 1.17). The server
# imports it alone first (``supervise``): it started under `ulimit -v 550000` with 195 MiB left.
XGBOOST_IMPORT_ROOM = 192 * MIB
XGBOOST_ROOM = XGBOOST_IMPORT_ROOM + 64 * MIB  # and the booster read


def mapped(status: Path = STATUS) -> int | None:
    """Bytes of address space this process has mapped (``VmSize``); None where /proc does not say."""
    try:
        lines = status.read_text().splitlines()
    except OSError:  # not Linux
        return None
    return next((int(line.split()[1]) * 1024 for line in lines if line.startswith("VmSize:")), None)


def room_left() -> tuple[int, int] | None:
    """(the address-space limit, the bytes left under it), None without a limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or (used := mapped()) is None:
        return None
    return soft, soft - used


def ensure_room(need: int, what: str) -> None:
    """``UserError`` (one line naming the limit) when less than ``need`` bytes are left for ``what``."""
    if (room := room_left()) is None or room[1] >= need:
        return
    limit, left = room
    raise UserError(
        f"out of memory: {what} needs about {need // MIB} MiB more address space than the limit this "
        f"command runs under leaves ({max(left, 0) // MIB} MiB of `ulimit -v` {limit // 1024} KiB): "
        "raise the limit"
    )
