"""Pipeline fixtures: MLflow stores whose tables are already made."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import ARTIFACT_COLUMNS, built_once, read_only


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder of an MLflow sqlite store with its tables made, shared and read-only.

    MLflow makes a new store's tables with its migrations, each committed (synced to disk): about
    3 s of waiting on this machine's disk per store, for well under 1 CPU-s. ``mlflow_store``
    copies this one instead."""

    def build(folder: Path) -> None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns"))
        store.engine.dispose()  # every change in the file: nothing left in a journal

    yield from read_only(built_once(tmp_path_factory, "mlflow-store", build))


@pytest.fixture
def mlflow_store(empty_mlflow_store: Path, tmp_path: Path) -> Path:
    """The test's own MLflow store (``_isolated_mlflow``'s path) made from ``empty_mlflow_store``:
    for a test that writes to MLflow, without waiting for the migrations. Its Default experiment
    keeps its artifacts under ``tmp_path``, as ``copy_project`` moves a project's."""
    store = tmp_path / "mlflow.db"
    shutil.copyfile(empty_mlflow_store / "mlflow.db", store)
    with closing(sqlite3.connect(store)) as db, db:
        for table, column in ARTIFACT_COLUMNS:
            update = f"UPDATE {table} SET {column} = replace({column}, ?, ?)"  # noqa: S608 - our names
            db.execute(update, (f"{empty_mlflow_store}/", f"{tmp_path}/"))
    return store
