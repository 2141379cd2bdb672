"""A folder replaced whole: the model folder, which train swaps in only once it is complete."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM arriving inside the block take effect when it ends. Python handles a
    signal in the main thread whichever thread the kernel gives it to (XGBoost's OpenMP threads
    too), so its handlers are swapped, not the thread's signal mask. Elsewhere than the main thread
    (which cannot set handlers) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def defer(number: int, _frame: FrameType | None) -> None:
        caught.append(number)

    before = {number: signal.signal(number, defer) for number in HELD}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])  # its own handler now: KeyboardInterrupt for Ctrl-C


def swap_in(new: Path, target: Path, old: Path) -> None:
    """Folder ``new`` renamed to ``target``; the folder there moves to ``old`` first (removing it
    is the caller's). Ctrl-C between the two renames left no ``target`` (the model gone): both run
    with the signals held, and a second rename that fails puts the old folder back."""
    with signals_held():
        if not target.exists():
            new.rename(target)
            return
        target.rename(old)
        try:
            new.rename(target)
        except OSError:
            old.rename(target)
            raise
