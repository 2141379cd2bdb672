"""Stage 2: split the validated table into train and test, seeded and reproducible.

``stratified`` keeps the label rate equal in both parts; ``time`` puts the latest
events in test, which is closer to how the model will be used (trained on the past,
scoring the future) and catches leakage through time.

Rows are put in a canonical order first (by id, or by a hash of each row's content when
the table has no id column), so the split depends on the data and not on the file's row order.
Regression labels are not stratified (a continuous label has no classes to balance).

The stage works on the Arrow table as read and writes each part one row group at a time: at
10M rows the table is the memory, and a pandas copy of it, Python objects for its ids or a
whole copy of each part would hold several times that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.model_selection import train_test_split

from mlapp.errors import UserError
from mlapp.params import DataParams, Params, SplitParams, Task
from mlapp.tables import write_rows

HASH_ROWS = 500_000  # rows hashed at a time (a table without an id): bounds the pandas copy


def row_keys(frame: pd.DataFrame, data: DataParams) -> np.ndarray:
    """The id, or (a table without one) a hash of each row's values: an order independent of
    the file's; identical rows get equal keys, and which of them goes first changes nothing."""
    if data.id_column:
        return frame[data.id_column].to_numpy()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def positions(
    order: np.ndarray, labels: np.ndarray | None, times: np.ndarray | None, params: SplitParams
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of train and test, each in key order. ``order``: the rows sorted by key
    (stable); ``labels``: class codes to stratify by; ``times``: event times (method time)."""
    if params.method == "time":
        if times is None:
            raise ValueError("split.method is 'time' but data.time_column is not set in params.yaml")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))  # ties of time are broken by key, as the order says
        by_time = np.lexsort((rank, times))
        cut = len(by_time) - round(len(by_time) * params.test_size)
        return by_time[:cut], by_time[cut:]
    train, test = train_test_split(
        np.arange(len(order)),
        test_size=params.test_size,
        random_state=params.seed,
        stratify=None if labels is None else labels[order],
    )
    return order[np.sort(train)], order[np.sort(test)]


class SplitError(UserError, ValueError):
    """A part of the split lacks a class: what to change is the split's params or the data."""


def _codes(labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(class codes, class names) in the classes' sorted order: stratifying by the codes splits
    as by the labels."""
    codes, names = pd.factorize(labels, sort=True)
    return codes, [str(name) for name in names]


def check_parts(
    codes: np.ndarray, names: list[str], train: np.ndarray, test: np.ndarray, method: str
) -> None:
    """Every class in both parts: a class missing from test leaves its metrics undefined (a ROC
    AUC of one class), one missing from train cannot be learnt. A stratified split of classes
    with validate.min_class_rows rows has them all; a time split need not."""
    for part, rows in (("train", train), ("test", test)):
        absent = np.setdiff1d(np.arange(len(names)), codes[rows])
        if len(absent):
            raise SplitError(
                f"split.method {method}: the {part} part ({len(rows)} rows) has no rows of class "
                f"{[names[i] for i in absent]}; change split.method or split.test_size, or add rows"
            )


def split(
    frame: pd.DataFrame, data: DataParams, params: SplitParams, task: Task = "binary"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split of an in-memory table (the stage itself works on Arrow: ``run``)."""
    order = np.argsort(row_keys(frame, data), kind="stable")
    labels = None if task == "regression" else _codes(frame[data.label])[0]
    times = frame[data.time_column].to_numpy() if data.time_column else None
    train, test = positions(order, labels, times, params)
    return frame.take(train).reset_index(drop=True), frame.take(test).reset_index(drop=True)


def table_order(table: pa.Table, data: DataParams) -> np.ndarray:
    """``row_keys`` sorted, on Arrow: Arrow's stable sort orders text by code point as Python does."""
    if data.id_column:
        return pc.sort_indices(table.column(data.id_column)).to_numpy()
    hashes = [row_keys(batch.to_pandas(), data) for batch in table.to_batches(max_chunksize=HASH_ROWS)]
    keys = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    return np.argsort(keys, kind="stable")


def run(params: Params, *, source: Path, train_path: Path, test_path: Path) -> int:
    data = params.data
    table = pq.read_table(source)
    labels: np.ndarray | None = None
    names: list[str] = []
    if params.task != "regression":
        labels, names = _codes(table.column(data.label).to_pandas())
    times = table.column(data.time_column).to_numpy() if data.time_column else None
    train, test = positions(table_order(table, data), labels, times, params.split)
    if labels is not None:
        check_parts(labels, names, train, test, params.split.method)
    del labels, times
    write_rows(table, train, train_path)
    write_rows(table, test, test_path)
    method: str = params.split.method
    if method == "stratified" and params.task == "regression":
        method = "random: a regression label has no classes"
    print(f"split ({method}): {len(train)} train rows, {len(test)} test rows")
    return 0
