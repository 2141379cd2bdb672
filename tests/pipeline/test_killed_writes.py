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
from mlapp.params import load_params
from mlapp.stages import evaluate
from mlapp.stages.train import base_spec
from tests.conftest import REPO
from tests.pipeline.boosters import saved, tiny_booster

# The child: ``signal`` to itself at the ``nth`` rename (``src`` to ``dst``, absolute) for which
# ``match`` is true; then it runs ``code``. Python's own Ctrl-C handler, as a shell gives it.
KILLER = """
import os, signal, sys
root, nth, match, number, seen = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), []
signal.signal(signal.SIGINT, signal.default_int_handler)
def hook(event, args):
    if event == "os.rename":
        src, dst = map(os.path.abspath, args[:2])
        if eval(match):
            seen.append(args)
            if len(seen) == nth:
                os.kill(os.getpid(), number)
sys.addaudithook(hook)
"""
FOLDER_UNDER_ROOT = "src.startswith(root) and os.path.isdir(src)"


def killed_at(
    nth: int,
    root: Path,
    code: str,
    match: str = FOLDER_UNDER_ROOT,
    number: int = signal.SIGKILL,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``code`` run in a child that sends itself ``number`` at its ``nth`` rename ``match``ing."""
    argv = [sys.executable, "-c", KILLER + code, str(root), str(nth), match, str(int(number))]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


SAVE = """
from pathlib import Path
from mlapp import model, swap
from mlapp.stages.train import base_spec
from tests.pipeline.boosters import tiny_booster
model.save(tiny_booster(2), base_spec("churned"), Path(root) / "models")
"""


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 2])
def test_a_model_swap_killed_at_any_rename_leaves_a_whole_model(tmp_path, nth) -> None:
    """Two renames (the old model aside, the new one in): a SIGKILL between them left no
    models/ (`dvc status`: deleted). The folders now trade places in one step."""
    model_dir = tmp_path / "models"
    before = saved(tiny_booster(1), model_dir)
    done = killed_at(nth, tmp_path, SAVE)
    assert done.returncode == -signal.SIGKILL or (nth > 1 and done.returncode == 0), done.stderr
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
    monkeypatch.setattr(swap, "RENAMEAT2", refusing(errno.EIO))  # EBUSY: a mount point, written into
    with pytest.raises(UserError, match=re.escape(f"cannot write {model_dir}: Input/output error")):
        model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
    assert (model_dir / model_io.MODEL_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


EVALUATE = """
from pathlib import Path
from mlapp.params import load_params
from mlapp.stages import evaluate
params = load_params(Path("params.yaml"))
evaluate.run(params, model_dir=params.train.model_dir, test_path=params.split.test,
             metrics_path=Path(root) / "metrics.json", plots_dir=Path(root) / "plots", log_to_mlflow=False)
"""


def outputs(root: Path) -> tuple[bytes, dict[str, bytes]]:
    """evaluate's metrics file and plot folder under ``root``."""
    return (root / "metrics.json").read_bytes(), {p.name: p.read_bytes() for p in (root / "plots").iterdir()}


@pytest.fixture
def old_outputs(tmp_path: Path) -> tuple[Path, tuple[bytes, dict[str, bytes]]]:
    """Another model's metrics and plots (another task's plot files too) in ``tmp_path / "out"``."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "metrics.json").write_text('{"rmse": 1.0}\n')
    for name in ("predicted_vs_actual", "residuals", "importance"):
        (out / "plots" / f"{name}.json").write_text("[]\n")
    return out, outputs(out)


@pytest.mark.slow
def test_ctrl_c_between_the_plots_and_the_metrics_keeps_them_together(reference_project, old_outputs) -> None:
    """Ctrl-C after the plots moved in and before the metrics did left the plots of one model
    beside the metrics of another; it now lands once both are in place."""
    out, _old = old_outputs
    metrics = str(out / "metrics.json")
    done = killed_at(1, out, EVALUATE, f"dst == {metrics!r}", signal.SIGINT, cwd=reference_project)
    assert done.returncode == -signal.SIGINT and "KeyboardInterrupt" in done.stderr, done.stderr
    assert outputs(out) == outputs(reference_project / "metrics")
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "plots"]


@pytest.mark.slow
def test_a_kill_between_two_plot_files_leaves_one_models_plots(reference_project, old_outputs) -> None:
    """The plots moved in one file at a time: a SIGKILL after the first left one new plot among
    another model's (and that model's stale files). The folder is now swapped in whole."""
    out, old = old_outputs
    plots = str(out / "plots")
    done = killed_at(2, out, EVALUATE, f"os.path.dirname(dst) == {plots!r}", cwd=reference_project)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    assert outputs(out)[1] in (old[1], outputs(reference_project / "metrics")[1])


def test_metrics_that_cannot_be_replaced_put_the_previous_plots_back(
    reference_project, old_outputs, monkeypatch
) -> None:
    out, old = old_outputs
    (out / "metrics.json").unlink()
    (out / "metrics.json").mkdir()  # a folder where the file goes: the rename over it fails
    params = load_params(reference_project / "params.yaml")
    monkeypatch.chdir(reference_project)
    paths = {"metrics_path": out / "metrics.json", "plots_dir": out / "plots"}
    with pytest.raises(UserError, match=re.escape(f"cannot write {out / 'metrics.json'}: Is a directory")):
        evaluate.run(params, model_dir=params.train.model_dir, test_path=params.split.test,
                     log_to_mlflow=False, **paths)  # fmt: skip
    assert {p.name: p.read_bytes() for p in (out / "plots").iterdir()} == old[1]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "plots"]
