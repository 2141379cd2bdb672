"""A Python child process held at a known point while the test acts on it (a Ctrl-C, its server
killed), then let go: never a race between the test's next step and the child's progress.

The child's ``sitecustomize`` (``hold_env`` puts it first on its PYTHONPATH) waits for the import of
the module named in ``HOLD_AT_ENV``; once that import has run ("module"), or as the module's function
is called ("module:function"), the child writes ``holding <pid>`` on its stderr and stops itself
(SIGSTOP). Signals sent meanwhile wait; SIGCONT (``release``) lets it go on from there. Waiting for
a sign in the child's output and acting then was a race on a loaded machine: the child went past
the point while the test was slow to act, and a test paused long enough missed it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

HOLD_AT_ENV = "MLAPP_TEST_HOLD_AT"
STOPPED_OR_GONE = ("T", "t", "Z", "X", None)  # /proc/<pid>/stat: stopped, traced, zombie, dead

SITECUSTOMIZE = """
import importlib.abc, os, signal, sys

MODULE, _, FUNCTION = os.environ["MLAPP_TEST_HOLD_AT"].partition(":")


def hold():
    print(f"holding {os.getpid()}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # until the test's SIGCONT


class Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = next(s for f in sys.meta_path if (s := f.find_spec(name, path, target)) is not None)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if not FUNCTION:
                hold()
                return
            function = getattr(module, FUNCTION)

            def held(*args, **kwargs):
                hold()
                return function(*args, **kwargs)

            setattr(module, FUNCTION, held)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Hold())
"""


def hold_env(folder: Path, at: str) -> dict[str, str]:
    """The environment entries that hold a Python child at ``at`` ("module" or "module:function");
    its ``sitecustomize`` is written in ``folder``."""
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": str(folder), HOLD_AT_ENV: at}


def held_pid(lines: Iterable[str], said: list[str]) -> int | None:
    """The held child's pid, from its ``holding`` line in ``lines`` (the child's stderr), each line
    before it appended to ``said``; None when ``lines`` ended first (the child never got there)."""
    for line in lines:
        if line.startswith("holding "):
            return int(line.split()[1])
        said.append(line)
    return None


def release(pid: int, stopped_within_s: float = 60) -> None:
    """Let the held child go on (SIGCONT): what was sent to it meanwhile reaches it now.

    Sent once the child has stopped or ended: between its ``holding`` line and its SIGSTOP a loaded
    machine may let the test act first, and a SIGCONT then would be lost, the child stopped for
    good; a Ctrl-C the test sent in that gap may end it there instead (a zombie until reaped)."""
    deadline = time.monotonic() + stopped_within_s
    while _state(pid) not in STOPPED_OR_GONE and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(pid, signal.SIGCONT)


def _state(pid: int) -> str | None:
    """The process state letter from /proc (T: stopped); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None
