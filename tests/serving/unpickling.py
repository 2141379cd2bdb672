"""Records every unpickling in a Python process: for the tests that show the serving path never
unpickles. Copied into a folder on PYTHONPATH as ``sitecustomize.py``, it runs first in every
Python process started with that PYTHONPATH (the server, its workers, what they start), before
anything has imported pickle's functions by name.

Two nets: ``pickle.loads``, ``pickle.load`` and ``pickle.Unpickler`` wrapped (every unpickling
through the ``pickle`` module: joblib, cloudpickle, numpy's ``allow_pickle``, multiprocessing,
BentoML's serde), and the audit event ``pickle.find_class``, which the C unpickler raises for
every class or function a pickle names, whoever called it. Recorded, not refused: an exception
raised here could be caught and ignored by the code that unpickled.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any

LOG_ENV = "MLAPP_TEST_UNPICKLING_LOG"  # the file each unpickling is appended to, with its stack
INSTALLED = "installed"  # the first line of each process, which shows the guard ran there


def record(what: str) -> None:
    if not (path := os.environ.get(LOG_ENV)):
        return
    stack = "" if what == INSTALLED else "".join(traceback.format_stack(limit=12)[:-2])
    with Path(path).open("a", encoding="utf-8") as log:
        log.write(f"--- pid {os.getpid()}: {what}\n{stack}")


def audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "pickle.find_class":
        record(f"pickle.find_class{args}")


def install() -> None:
    """Record from now on, in this process (an audit hook cannot be removed: it writes while
    ``LOG_ENV`` names a file)."""
    loads, load, unpickler = pickle.loads, pickle.load, pickle.Unpickler

    def wrapped_loads(*args: Any, **kwargs: Any) -> Any:
        record("pickle.loads")
        return loads(*args, **kwargs)

    def wrapped_load(*args: Any, **kwargs: Any) -> Any:
        record("pickle.load")
        return load(*args, **kwargs)

    class Unpickler(unpickler):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            record("pickle.Unpickler")
            super().__init__(*args, **kwargs)

    pickle.loads, pickle.load, pickle.Unpickler = wrapped_loads, wrapped_load, Unpickler  # type: ignore[misc, assignment]
    sys.addaudithook(audit)
    record(INSTALLED)


if __name__ == "sitecustomize" and os.environ.get(LOG_ENV):
    install()
