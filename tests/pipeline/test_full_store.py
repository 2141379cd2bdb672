"""A local MLflow store that cannot grow (a full disk) or be written (a read-only file or mount).

sqlite says so in its own words ("database or disk is full", "attempt to write a readonly
database"), which SQLAlchemy raises as an OperationalError, not an OSError: evaluate and track
ended with 230 lines of MLflow's traceback on a really full disk. Here sqlite itself refuses
(``max_page_count``, ``query_only`` on each connection MLflow opens); the slow test fills a
real tmpfs.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import mlflow
import pytest
import sqlalchemy

from mlapp import tracking, tracking_failures
from mlapp.errors import TrackingUnavailable
from mlapp.params import load_params
from tests.conftest import REPO
from tests.full_disk import fill, small_tmpfs

EXPERIMENTS = 200  # far more than the pages a store without free pages has room for


@contextlib.contextmanager
def every_connection(pragma: str) -> Iterator[None]:
    """``pragma`` on each sqlite connection opened meanwhile (MLflow opens its own)."""

    def run(connection: sqlite3.Connection, _record: object) -> None:
        connection.execute(pragma)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", run)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", run)


def write_until_refused(uri: str) -> None:
    with tracking_failures.store_free(uri, unlogged=tracking_failures.STAGE_UNDONE):
        for n in range(EXPERIMENTS):
            mlflow.create_experiment(f"fill-{n}")


def integrity(store: Path) -> str:
    with closing(sqlite3.connect(store)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pragma", "said"),
    [
        ("PRAGMA max_page_count = 1", "sqlite: database or disk is full): free space on that disk, or point"),
        ("PRAGMA query_only = ON", "sqlite: attempt to write a readonly database): point"),
    ],
)
def test_a_store_sqlite_refuses_to_write_is_one_line(mlflow_store, pragma, said, capsys) -> None:
    uri = tracking.connect(load_params(REPO / "params.yaml").mlflow)
    with every_connection(pragma), pytest.raises(TrackingUnavailable) as raised:
        write_until_refused(uri)
    assert str(raised.value).startswith(f"cannot write the MLflow store {uri} or its artifacts (")
    assert said in str(raised.value)
    assert "Traceback" not in capsys.readouterr().err  # MLflow's own log of the error
    assert integrity(mlflow_store) == "ok"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk") as mount:
        yield mount


@pytest.mark.slow
def test_a_store_on_a_really_full_disk_is_one_line_and_works_once_freed(
    mlflow_store, disk, monkeypatch, capsys
) -> None:
    store = disk / "mlflow.db"
    store.write_bytes(mlflow_store.read_bytes())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    uri = tracking.connect(load_params(REPO / "params.yaml").mlflow)
    filler = fill(disk)
    with pytest.raises(TrackingUnavailable, match=r"\(sqlite: database or disk is full\): free space"):
        write_until_refused(uri)
    assert "Traceback" not in capsys.readouterr().err
    filler.unlink()
    assert integrity(store) == "ok"
    write_until_refused(uri)  # nothing to repair
    assert len(mlflow.search_experiments(max_results=1000)) == EXPERIMENTS + 1  # and Default


def test_a_new_store_on_a_read_only_disk_is_one_line(disk, monkeypatch) -> None:
    """sqlite cannot create the file there: MLflow retried opening it for 100 s, silently (its
    log is off), then raised SQLAlchemy's "unable to open database file" as a traceback."""
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    uri = f"sqlite:///{disk / 'sub' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(TrackingUnavailable) as raised:
        tracking.connect(load_params(REPO / "params.yaml").mlflow)
    assert str(raised.value) == (
        f"cannot write the MLflow store {uri} or its artifacts (no file can be created in {disk}): "
        "point MLFLOW_TRACKING_URI (or params.yaml's mlflow.tracking_uri) at a writable place"
    )


@pytest.mark.slow
def test_a_new_store_in_a_folder_still_to_make_is_made(tmp_path, monkeypatch) -> None:
    uri = f"sqlite:///{tmp_path / 'a' / 'b' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking.connect(load_params(REPO / "params.yaml").mlflow) == uri
    write_until_refused(uri)
    assert (tmp_path / "a" / "b" / "mlflow.db").is_file()
