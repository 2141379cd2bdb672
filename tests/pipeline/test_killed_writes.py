"""A stage SIGKILLed while it replaces its outputs leaves each output whole, old or new.

The kill comes from an audit hook in a child process, at a chosen rename, never timed.
"""

from __future__ import annotations

import ctypes
import errno
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlapp import model as model_io
from mlapp import swap
from mlapp.errors import UserError
from mlapp.stages.train import base_spec
from tests.conftest import REPO
from tests.pipeline.test_interrupted_writes import saved, tiny_booster

# The child: SIGKILL itself at the ``nth`` rename of a folder under ``root``; then run ``code``.
KILLER = """
import os, signal, sys
root, nth, seen = sys.argv[1], int(sys.argv[2]), []
def hook(event, args):
    if event == "os.rename" and os.path.abspath(args[0]).startswith(root) and os.path.isdir(args[0]):
        seen.append(args)
        if len(seen) == nth:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
"""


def killed_at(nth: int, root: Path, code: str) -> int:
    """Exit code of ``code`` run in a child SIGKILLed at its ``nth`` rename of a folder under ``root``."""
    argv = [sys.executable, "-c", KILLER + code, str(root), str(nth)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode


SAVE = """
from pathlib import Path
from mlapp import model, swap
from mlapp.stages.train import base_spec
from tests.pipeline.test_interrupted_writes import tiny_booster
model.save(tiny_booster(2), base_spec("churned"), Path(root) / "models")
"""


@pytest.mark.parametrize("nth", [1, 2])
def test_a_model_swap_killed_at_any_rename_leaves_a_whole_model(tmp_path, nth) -> None:
    """Two renames (the old model aside, the new one in): a SIGKILL between them left no
    models/ (`dvc status`: deleted). The folders now trade places in one step."""
    model_dir = tmp_path / "models"
    before = saved(tiny_booster(1), model_dir)
    code = killed_at(nth, tmp_path, SAVE)
    assert code == -signal.SIGKILL or nth > 1  # the first: the old folder leaving the staging folder
    assert (model_dir / model_io.MODEL_FILE).read_bytes() in (before, bytes(tiny_booster(2).save_raw("ubj")))
    assert model_io.load(model_dir).spec == base_spec("churned")


def test_the_swap_is_one_step_where_the_os_has_it(tmp_path) -> None:
    assert swap.RENAMEAT2 is not None  # Linux and glibc >= 2.28: where the tests run
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / "a").write_text("a")
    assert swap.exchange(first, second)
    assert [p.name for p in second.iterdir()] == ["a"] and not any(first.iterdir())


def refusing(number: int) -> object:
    """``renameat2`` as a filesystem or kernel answers that sets ``errno`` to ``number``."""

    def renameat2(*_args: object) -> int:
        ctypes.set_errno(number)
        return -1

    return renameat2


@pytest.mark.parametrize("number", [errno.EINVAL, errno.ENOSYS])
def test_a_filesystem_without_the_exchange_falls_back_to_two_renames(tmp_path, monkeypatch, number) -> None:
    model_dir = tmp_path / "models"
    saved(tiny_booster(1), model_dir)
    monkeypatch.setattr(swap, "RENAMEAT2", refusing(number))
    assert saved(tiny_booster(2), model_dir) == bytes(tiny_booster(2).save_raw("ubj"))
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


def test_an_exchange_that_fails_is_one_line_and_keeps_the_model(tmp_path, monkeypatch) -> None:
    model_dir = tmp_path / "models"
    before = saved(tiny_booster(1), model_dir)
    monkeypatch.setattr(swap, "RENAMEAT2", refusing(errno.EBUSY))
    with pytest.raises(UserError, match=re.escape(f"cannot write {model_dir}: Device or resource busy")):
        model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
    assert (model_dir / model_io.MODEL_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["models"]
