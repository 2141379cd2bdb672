"""A stage that fails or is interrupted while writing keeps the previous outputs whole.

Interruptions are injected at a chosen point (a patched rename or write), never timed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from pandas.errors import ParserError

from mlapp import model as model_io
from mlapp import swap, tracking
from mlapp.cli import EXIT_ERROR
from mlapp.errors import EXIT_INTERRUPTED, PIPELINE_FIRST, UserError
from mlapp.files import write_json
from mlapp.params import load_params
from mlapp.sources import Replayed
from mlapp.stages import evaluate, validate
from mlapp.stages.train import base_spec
from mlapp.tables import write_frame
from tests.conftest import REPO, run_main
from tests.full_disk import fill, small_tmpfs
from tests.pipeline.boosters import saved, tiny_booster


def test_ctrl_c_between_the_folder_swaps_keeps_a_whole_model(tmp_path, monkeypatch, request) -> None:
    """Ctrl-C after the old model moved aside and before the new one moved in left no model:
    the interrupt now lands once the new model is in place. The two renames are the fallback
    (no ``renameat2``: another OS, a filesystem that refuses it); Linux swaps in one step."""
    monkeypatch.setattr(swap, "RENAMEAT2", None)
    model_dir = tmp_path / "models"
    saved(tiny_booster(1), model_dir)
    rename = Path.rename

    def interrupted(self: Path, target: Path) -> Path:
        if Path(target) == model_dir:  # the second rename: the old model has just moved aside
            os.kill(os.getpid(), signal.SIGINT)
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    # Python's own Ctrl-C handler, as a shell gives it: a pytest-xdist worker ignores SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    new = tiny_booster(2)
    with pytest.raises(KeyboardInterrupt):
        model_io.save(new, base_spec("churned"), model_dir)
    assert (model_dir / model_io.MODEL_FILE).read_bytes() == bytes(new.save_raw("ubj"))
    assert model_io.load(model_dir).spec == base_spec("churned")
    assert [p.name for p in tmp_path.iterdir()] == ["models"]  # the old one and the staging are gone


def test_ctrl_c_that_pandas_reports_as_a_failed_read_stays_an_interrupt(
    reference_project, tmp_path, monkeypatch, request, capsys
) -> None:
    """Ctrl-C while pandas' C parser read a large CSV came out, in 18 of 100 timed interrupts, as
    its ParserError "Calling read(nbytes) on source failed": validate wrote a report calling the
    table unreadable and the schema draft said so, exit 2, where Ctrl-C is exit 130. Injected as
    pandas gives it: the interrupt lands in the read callback, a ParserError comes out."""
    readinto = Replayed.readinto

    def lost(self: Any, buffer: Any) -> int:
        if self._head:  # the header's bytes, read before pandas' parser starts
            return readinto(self, buffer)
        with contextlib.suppress(KeyboardInterrupt):  # what pandas lost
            os.kill(os.getpid(), signal.SIGINT)
        raise ParserError("Error tokenizing data. C error: Calling read(nbytes) on source failed.")

    monkeypatch.setattr(Replayed, "readinto", lost)
    # Python's own Ctrl-C handler, as a shell gives it: a pytest-xdist worker ignores SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    params = load_params(reference_project / "params.yaml")
    source, report = reference_project / params.data.raw, tmp_path / "validation.json"
    with pytest.raises(KeyboardInterrupt):
        validate.run(params, source=source, output=tmp_path / "validated.parquet", report=report)
    assert not report.exists()
    draft = ["--params", str(reference_project / "params.yaml"), "template", "schema", str(source)]
    assert run_main(monkeypatch, *draft) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "error: interrupted"


def test_a_failed_swap_puts_the_previous_model_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(swap, "RENAMEAT2", None)  # the two renames' fallback
    model_dir = tmp_path / "models"
    before = saved(tiny_booster(1), model_dir)
    rename = Path.rename

    def refused(self: Path, target: Path) -> Path:
        if Path(target) == model_dir and self.name == "new":
            raise OSError(16, "Device or resource busy")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refused)
    with pytest.raises(UserError, match=re.escape(f"cannot write {model_dir}: Device or resource busy")):
        model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
    assert (model_dir / model_io.MODEL_FILE).read_bytes() == before


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_model(tmp_path, monkeypatch) -> None:
    """XGBoost's own save_model failed with a C++ backtrace ('FileStream.Write incomplete')."""
    model_dir = tmp_path / "models"
    before = saved(tiny_booster(1), model_dir)
    write_bytes = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name == model_io.MODEL_FILE:
            raise OSError(28, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(UserError, match=re.escape(f"cannot write {model_dir}: No space left on device")):
        model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
    assert (model_dir / model_io.MODEL_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["models"]


def test_saved_bytes_are_xgboosts_own(tmp_path) -> None:
    booster = tiny_booster(3)
    booster.save_model(str(tmp_path / "own.ubj"))
    assert saved(booster, tmp_path / "models") == (tmp_path / "own.ubj").read_bytes()


def test_a_missing_model_is_named_missing_not_corrupt(tmp_path) -> None:
    """`mlapp pipeline track` before any training said the model was 'truncated or corrupt'."""
    with pytest.raises(model_io.ModelMissing, match=r"model .*model\.ubj not found: run the pipeline first"):
        model_io.model_sha256(tmp_path / "models")


@pytest.fixture
def locked_error(tmp_path) -> Iterator[Exception]:
    """SQLAlchemy's error for a sqlite file another connection holds locked (no waiting)."""
    db = tmp_path / "locked.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        engine = sqlalchemy.create_engine(f"sqlite:///{db}", connect_args={"timeout": 0})
        with pytest.raises(sqlalchemy.exc.OperationalError) as raised, engine.connect() as connection:
            connection.exec_driver_sql("SELECT name FROM sqlite_master")
        engine.dispose()
        yield raised.value


def test_a_locked_mlflow_store_is_one_line_in_track(locked_error, monkeypatch, capsys) -> None:
    """A second `make run` writing to mlflow.db meanwhile ended track with SQLAlchemy's traceback."""
    monkeypatch.chdir(REPO)  # its params.yaml; the store is the test's own (conftest)

    def locked(*_args: object) -> str:
        raise locked_error

    monkeypatch.setattr(tracking, "ensure_run", locked)
    assert run_main(monkeypatch, "pipeline", "track") == EXIT_ERROR
    err = capsys.readouterr().err
    assert "is locked by another process writing to it" in err
    assert "Traceback" not in err


def test_a_locked_mlflow_store_stops_evaluate_before_its_outputs(
    locked_error, reference_project, tmp_path, monkeypatch
) -> None:
    def locked(*_args: object) -> str:
        raise locked_error

    monkeypatch.setattr(tracking, "log_run", locked)
    params = load_params(reference_project / "params.yaml")
    monkeypatch.chdir(reference_project)
    metrics, plots = tmp_path / "out" / "metrics.json", tmp_path / "out" / "plots"
    with pytest.raises(UserError, match="is locked by another process"):
        evaluate.run(params, model_dir=params.train.model_dir, test_path=params.split.test,
                     metrics_path=metrics, plots_dir=plots)  # fmt: skip
    assert not metrics.exists()
    assert not plots.exists()


def test_what_a_killed_stage_leaves_behind_is_never_offered_to_git() -> None:
    """SIGKILL (no cleanup runs) mid-write leaves each writer's temporary copy; `git status`
    listed them as untracked (`git add -A` committed the whole validated table)."""
    params = load_params(REPO / "params.yaml")
    model_dir = params.train.model_dir
    left = [
        *(path.parent / f".{path.name}.k3j_x9a2" for path in (  # staged_beside's names (mlapp.files)
            params.validate_.output, params.validate_.report, params.evaluate.metrics, Path("params.yaml"),
        )),
        model_dir.parent / f".{model_dir.name}-k3j_x9a2" / "new" / model_io.MODEL_FILE,
        Path("mlflow.db-journal"),  # the local MLflow store's, a writer killed mid-transaction
    ]  # fmt: skip
    out = subprocess.run(["git", "check-ignore", "--no-index", *map(str, left)], cwd=REPO,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert sorted(out.stdout.split()) == sorted(map(str, left))


def read_only_folder(*_args: object, **_kwargs: object) -> Any:
    raise OSError(30, "Read-only file system")


def test_a_read_only_folder_for_validates_outputs_is_one_line(
    reference_project, tmp_path, monkeypatch
) -> None:
    """A read-only artifacts/ or reports/ (a mount) stopped validate with a traceback."""
    params = load_params(reference_project / "params.yaml")
    monkeypatch.setattr(os, "open", read_only_folder)  # how staged_beside creates the file beside
    output, report = tmp_path / "out" / "validated.parquet", tmp_path / "out" / "validation.json"
    with pytest.raises(UserError, match=re.escape(f"cannot write {output}: Read-only file system")):
        validate.run(params, source=reference_project / params.data.raw, output=output, report=report)
    with pytest.raises(UserError, match=re.escape(f"cannot write {report}: Read-only file system")):
        write_json({"status": "passed"}, report)


def test_a_read_only_metrics_folder_is_one_line_before_the_run_is_logged(
    reference_project, tmp_path, monkeypatch
) -> None:
    def logged(*_args: object) -> str:
        raise AssertionError("an MLflow run was logged for metrics that cannot be written")

    monkeypatch.setattr(tracking, "log_run", logged)
    monkeypatch.setattr(tempfile, "mkdtemp", read_only_folder)
    params = load_params(reference_project / "params.yaml")
    monkeypatch.chdir(reference_project)
    metrics = tmp_path / "out" / "metrics.json"
    with pytest.raises(UserError, match=re.escape(f"cannot write {metrics.parent}: Read-only file system")):
        evaluate.run(params, model_dir=params.train.model_dir, test_path=params.split.test,
                     metrics_path=metrics, plots_dir=tmp_path / "out" / "plots")  # fmt: skip


def test_an_mlflow_store_that_cannot_be_created_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    """A sqlite store under a folder that cannot be made (a file where the folder goes): MLflow's
    FileNotFoundError traceback. A missing folder that can be made is made."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}")
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(tracking, "model_identity", lambda _folder: {"model.sha256": "0" * 64})  # no model
    assert run_main(monkeypatch, "pipeline", "track") == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the MLflow store sqlite:///") and "Traceback" not in err, err


def test_a_missing_model_in_track_is_still_named_missing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    assert run_main(monkeypatch, "pipeline", "track") == EXIT_ERROR
    said = f"error: model models/model.ubj not found: {PIPELINE_FIRST}\n"
    assert capsys.readouterr().err == said  # a FileNotFoundError too, not the store's


def test_a_table_written_on_a_full_disk_keeps_the_one_before(tmp_path) -> None:
    """``write_frame`` (the table writer a new stage is pointed to) wrote into the file itself: a
    full disk left a truncated table where the previous one was, and OSError's traceback."""
    frame = pd.DataFrame({"x": np.arange(1000), "y": np.arange(1000) * 0.5})
    with small_tmpfs(tmp_path / "disk", size="1m") as disk:
        path = disk / "table.parquet"
        write_frame(frame.head(10), path)
        filler = fill(disk)
        big = pd.DataFrame({"x": np.random.default_rng(0).random(200_000)})  # ~1.6 MB: no room
        with pytest.raises(UserError, match=re.escape(f"cannot write {path}: ") + ".*No space left"):
            write_frame(big, path)
        filler.unlink()
        pd.testing.assert_frame_equal(pd.read_parquet(path), frame.head(10))
        assert [p.name for p in disk.iterdir()] == ["table.parquet"]


def test_a_disk_full_while_evaluate_stages_names_the_plot_folder(
    reference_project, tmp_path, monkeypatch
) -> None:
    """It named a plot file staged in `.evaluate-*/plots/`, a folder removed by the time it was read."""
    params = load_params(reference_project / "params.yaml")
    monkeypatch.chdir(reference_project)
    # The disk's root, the staging folder, its metrics file, plots/ and two plot files: the third is refused.
    with small_tmpfs(tmp_path / "disk", inodes=6) as disk:
        metrics, plots = disk / "metrics.json", disk / "plots"
        with pytest.raises(UserError) as raised:
            evaluate.run(params, model_dir=params.train.model_dir, test_path=params.split.test,
                         metrics_path=metrics, plots_dir=plots, log_to_mlflow=False)  # fmt: skip
        assert str(raised.value) == f"cannot write {plots}: No space left on device"
        assert list(disk.iterdir()) == []
