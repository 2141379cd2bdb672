"""``python -m mlapp`` and the ``mlapp`` console script: a Ctrl-C before any command runs, or
inside code an ``exec()`` runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.holding import held_pid, hold_env, release

DEADLINE_S = 120
ENTRIES = {"python -m mlapp": ["-m", "mlapp"], "console script": [str(Path(sys.executable).parent / "mlapp")]}


def imported(line: str) -> str:
    """The module a ``-X importtime`` line says was imported ("import time: 5 | 9 |   click")."""
    return line.rsplit("|", 1)[-1].strip()


def said_after_import(args: list[str], module: str, cwd: Path, tmp_path: Path) -> tuple[int, list[str]]:
    """The exit code and stderr lines of ``python -X importtime *args``, interrupted as the import
    of ``module`` ends: the child is held there (tests/holding.py) until the Ctrl-C has been sent,
    as a read of its import lines alone was a race with the child on a loaded machine."""
    env = {**os.environ, **hold_env(tmp_path, module)}
    child = subprocess.Popen(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    said: list[str] = []
    try:
        held = held_pid(child.stderr, said)
        assert held == child.pid, "".join(said)[-3000:]
        child.send_signal(signal.SIGINT)
        release(held)  # the interrupt raises where the child was held
        said += child.stderr.readlines()
        return child.wait(timeout=DEADLINE_S), said
    finally:
        if child.poll() is None:  # the test failed above: no child left stopped
            child.kill()
            child.wait()


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
def test_ctrl_c_while_the_commands_import_is_one_line_and_exit_130(entry: list[str], tmp_path: Path) -> None:
    """A Ctrl-C in the second or more the commands take to import (pandas, MLflow, BentoML) printed
    Python's traceback. The interrupt goes as click, mlapp.cli's first import, is in."""
    code, said = said_after_import([*entry, "--help"], "click", tmp_path, tmp_path)
    assert code == 130, "".join(said)[-3000:]
    assert "click" in map(imported, said)
    # The interrupt came while the commands imported: the last of them never was (a line is
    # written for an import the interrupt ended too: mlapp.cli's own is no witness).
    assert "mlapp.cli.template" not in map(imported, said)
    assert [line for line in said if not line.startswith("import time:")] == ["error: interrupted\n"]


# The command "exec-interrupted", added to the real CLI, or the CLI's own import: a Ctrl-C that
# lands inside code exec() runs, as in a dataclass's methods while an import builds them.
EXEC_INTERRUPTED = """
import os, signal, sys, types

import mlapp.errors  # as after any command: a first import here would eval() (a namedtuple) too

INTERRUPT = "os.kill(os.getpid(), signal.SIGINT)"  # Python's handler raises inside the exec'd code
if sys.argv[1] == "exec-interrupted":
    import click
    from mlapp.cli import cli

    cli.add_command(click.Command("exec-interrupted", callback=lambda: exec(INTERRUPT)))
else:  # the commands' import: where the KeyboardInterrupt is outside click's handling
    sys.modules["mlapp.cli"] = types.SimpleNamespace(main=lambda: exec(INTERRUPT))
from mlapp.__main__ import main

main()
"""
WHERE = {"in a command": "exec-interrupted", "importing the commands": "--help"}


@pytest.mark.parametrize("command", WHERE.values(), ids=WHERE.keys())
def test_ctrl_c_inside_exec_code_is_exit_130_not_death_by_sigint(tmp_path: Path, command: str) -> None:
    """CPython notes a KeyboardInterrupt that leaves code run by an exec() or eval() of a string
    (dataclasses and namedtuple write their methods so) as unhandled, whoever handles it: `python
    -m` then ended, after "error: interrupted", by killing itself with SIGINT (-2 to the caller).
    `serving serve --smoke` stopped by Ctrl-C as its server started did so now and then: the
    interrupt landed in h11's dataclasses, imported by the first readiness request."""
    (tmp_path / "exec_interrupted.py").write_text(EXEC_INTERRUPTED)
    argv = [sys.executable, "-m", "exec_interrupted", command]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 130, done.stderr[-3000:]
    assert done.stderr.strip() == "error: interrupted"
