"""A folder replaced whole: the model folder, which train swaps in only once it is complete, and
evaluate's plot folder.

On Linux the two folders trade places in one step (``renameat2(RENAME_EXCHANGE)``): even a
SIGKILL leaves one of them whole at the target. Elsewhere (another OS, a glibc older than 2.28, a
filesystem that refuses the flag) the old folder moves aside and the new one in: two renames, with
Ctrl-C and SIGTERM held between them, so only a SIGKILL in those microseconds leaves no target.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM)
AT_FDCWD = -100  # linux/fcntl.h: paths relative to the working folder
RENAME_EXCHANGE = 2  # linux/fs.h
UNSUPPORTED = (errno.EINVAL, errno.ENOSYS)  # the filesystem, or a kernel before 3.15


def _renameat2() -> Callable[..., int] | None:
    """glibc's ``renameat2``; None where there is none (not Linux, glibc before 2.28)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


RENAMEAT2 = _renameat2()


def exchange(first: Path, second: Path) -> bool:
    """``first`` and ``second`` (both there) trade places in one step; False where the OS or the
    filesystem cannot, and nothing moved. Any other failure is the OSError a rename raises."""
    if RENAMEAT2 is None:
        return False
    if RENAMEAT2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    number = ctypes.get_errno()
    if number in UNSUPPORTED:
        return False
    raise OSError(number, os.strerror(number), str(first), None, str(second))


@contextlib.contextmanager
def signals_held(held: tuple[int, ...] = HELD) -> Iterator[None]:
    """The signals ``held`` (Ctrl-C and SIGTERM) arriving inside the block take effect when it ends,
    the first one with the handler it had before. Python handles a signal in the main thread
    whichever thread the kernel gives it to (XGBoost's OpenMP threads too), so its handlers are
    swapped, not the thread's signal mask. Elsewhere than the main thread (which cannot set
    handlers) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def defer(number: int, _frame: FrameType | None) -> None:
        caught.append(number)

    before = {number: signal.signal(number, defer) for number in held}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])  # its own handler now: KeyboardInterrupt for Ctrl-C


def swap_in(new: Path, target: Path, old: Path) -> None:
    """Folder ``new`` renamed to ``target``; the folder there ends at ``old`` (removing it is the
    caller's). ``exchange`` where it can; else two renames with the signals held, and a second
    rename that fails puts the old folder back."""
    with signals_held():
        if not target.exists():
            new.rename(target)
        elif exchange(new, target):
            new.rename(old)  # the old folder, now at ``new``
        else:
            target.rename(old)
            try:
                new.rename(target)
            except OSError:
                old.rename(target)
                raise
