"""``python -m mlapp`` and the ``mlapp`` console script: a Ctrl-C before any command runs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

DEADLINE_S = 120
ENTRIES = {"python -m mlapp": ["-m", "mlapp"], "console script": [str(Path(sys.executable).parent / "mlapp")]}


def imported(line: str) -> str:
    """The module a ``-X importtime`` line says was imported ("import time: 5 | 9 |   click")."""
    return line.rsplit("|", 1)[-1].strip()


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
def test_ctrl_c_while_the_commands_import_is_one_line_and_exit_130(entry: list[str]) -> None:
    """A Ctrl-C in the second or more the commands take to import (pandas, MLflow, BentoML) printed
    Python's traceback. ``-X importtime`` writes a line as each import ends: the interrupt goes
    once click, mlapp.cli's first import, is in."""
    argv = [sys.executable, "-X", "importtime", *entry, "--help"]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    said: list[str] = []
    for line in child.stderr:
        said.append(line)
        if imported(line) == "click":
            break
    child.send_signal(signal.SIGINT)
    said += child.stderr.readlines()
    # 130; or, after that one line, the end by SIGINT a shell reports as 130: CPython's when the
    # interrupt came inside an eval() (namedtuple's), though it was handled.
    assert child.wait(timeout=DEADLINE_S) in (130, -signal.SIGINT), "".join(said)[-3000:]
    assert "click" in map(imported, said)
    # The interrupt came while the commands imported: the last of them never was (a line is
    # written for an import the interrupt ended too: mlapp.cli's own is no witness).
    assert "mlapp.cli.template" not in map(imported, said)
    assert [line for line in said if not line.startswith("import time:")] == ["error: interrupted\n"]
