"""A folder replaced whole: the model folder, which train swaps in only once it is complete, and
evaluate's plot folder.

On Linux the two folders trade places in one step (``renameat2(RENAME_EXCHANGE)``): even a
SIGKILL leaves one of them whole at the target. Elsewhere (another OS, a glibc older than 2.28, a
filesystem that refuses the flag) the old folder moves aside and the new one in: two renames, with
Ctrl-C and SIGTERM held between them, so only a SIGKILL in those microseconds leaves no target.

A target that is a mount point (a bind mount, a tmpfs, a volume at ``models/``) cannot be renamed
(EBUSY): its files are replaced instead, each renamed over its name inside the mount.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import sys
import tempfile
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
    rename that fails puts the old folder back. A ``target`` that is a mount point has its files
    replaced (``swap_files``)."""
    with signals_held():
        if not target.exists():
            new.rename(target)
            return
        try:
            if exchange(new, target):
                new.rename(old)  # the old folder, now at ``new``
                return
            target.rename(old)
        except OSError as exc:
            if exc.errno != errno.EBUSY:  # EBUSY: a mount point, which no rename moves
                raise
            swap_files(new, target, old)
            return
        try:
            new.rename(target)
        except OSError:
            old.rename(target)
            raise


def swap_files(new: Path, target: Path, old: Path) -> None:
    """The files of folder ``new`` replace those of ``target``, a mount point; ``new`` is removed
    and ``old`` holds copies of the files ``target`` had, as after ``swap_in``. Each new file is
    copied into ``target`` first (its filesystem: the rename over its name is then atomic), and
    only once all are there are they renamed over their names and the files ``new`` lacks
    removed: a failed copy leaves ``target`` as it was. Unlike the folder swap, a SIGKILL amid
    those renames can leave new files beside old ones (a model whose digest then matches neither:
    `dvc status` names it as modified). Files only: subfolders (a volume's lost+found) stay."""
    old.mkdir()
    copies: list[tuple[Path, Path]] = []
    try:
        for previous in target.iterdir():
            if previous.is_file():
                shutil.copy(previous, old / previous.name)
        for source in new.iterdir():
            fd, name = tempfile.mkstemp(prefix=f".{source.name}.", dir=target)
            os.close(fd)
            copies.append((Path(name), target / source.name))
            shutil.copy(source, name)  # the file's mode too, not mkstemp's 0600
        for copy, dest in copies:
            copy.replace(dest)
        kept = {dest.name for _copy, dest in copies}
        for previous in target.iterdir():
            if previous.is_file() and previous.name not in kept:
                previous.unlink()
        shutil.rmtree(new)
    finally:
        for copy, _dest in copies:
            copy.unlink(missing_ok=True)  # gone already once renamed
