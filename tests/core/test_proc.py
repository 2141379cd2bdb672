"""mlapp.proc: the one subprocess runner."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from mlapp import proc
from mlapp.errors import UserError

PY = sys.executable


def test_run_returns_text_with_c_locale_and_merged_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLAPP_FROM_PARENT", "parent")
    monkeypatch.setenv("MLAPP_REMOVED", "gone?")
    code = (
        "import os; e = os.environ; "
        "print(e['LC_ALL'], e['MLAPP_FROM_PARENT'], e['MLAPP_EXTRA'], 'MLAPP_REMOVED' in e, os.getcwd())"
    )
    done = proc.run(
        [PY, "-c", code],
        cwd=tmp_path,
        env={"MLAPP_EXTRA": "extra", "LC_ALL": "de_DE.UTF-8", "MLAPP_REMOVED": None},
    )
    assert done.returncode == 0
    assert done.stdout.split() == ["C", "parent", "extra", "False", str(tmp_path.resolve())]


def test_input_and_output_helper() -> None:
    assert proc.run([PY, "-c", "import sys; print(sys.stdin.read().upper())"], input="abc").stdout == "ABC\n"
    assert proc.output([PY, "-c", "print('  x  ')"]) == "x"


def test_failure_is_typed_and_readable() -> None:
    script = "import sys; print('partial'); print('bad thing happened', file=sys.stderr); sys.exit(3)"
    with pytest.raises(proc.CommandError) as info:
        proc.run([PY, "-c", script])
    err = info.value
    assert isinstance(err, UserError)
    assert (err.returncode, err.stdout, err.stderr.strip()) == (3, "partial\n", "bad thing happened")
    assert err.cmd == [PY, "-c", script]
    first, detail = str(err).split("\n", 1)
    assert first.endswith("failed (exit 3):") and detail == "bad thing happened"
    clone = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes; survives multiprocessing / dask workers
    assert (type(clone), clone.returncode, str(clone)) == (proc.CommandError, 3, str(err))


def test_check_false_returns_the_exit_code() -> None:
    done = proc.run([PY, "-c", "raise SystemExit(5)"], check=False)
    assert done.returncode == 5


def test_missing_program_and_timeout_have_their_own_codes(tmp_path: Path) -> None:
    with pytest.raises(proc.CommandNotFound) as missing:
        proc.run(["mlapp-no-such-program-xyz", "--flag"])
    assert missing.value.returncode == proc.NOT_FOUND
    assert str(missing.value).startswith("mlapp-no-such-program-xyz not found on PATH")
    with pytest.raises(proc.CommandTimeout) as slow:
        proc.run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.value.returncode == proc.TIMED_OUT
    with pytest.raises(FileNotFoundError):  # a wrong cwd is the caller's bug, not a missing program
        proc.run([PY, "-c", "pass"], cwd=tmp_path / "absent")


def test_uncaptured_output_goes_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    done = proc.run([PY, "-c", "print('visible')"], capture=False)
    assert done.stdout is None
    assert capfd.readouterr().out == "visible\n"
