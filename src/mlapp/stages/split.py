"""Stage 2: split the validated table into train and test, seeded and reproducible.

``hash`` (the default) puts a row in test when a seeded 64-bit hash of its key (its group's value
when ``data.group_column`` is set, else the id, or the row's values but its label when the table has
no id column) falls below ``split.test_size``: a row's part
depends on that row and ``split.seed`` alone, so appending or removing rows never moves another
row between train and test, and a retrained model's test rows were never the base model's
training rows. The class shares of the parts are equal only in expectation. ``stratified``
keeps them exact but splits the whole table anew whenever a row is added; ``time`` puts the
latest events in test, which is closer to how the model will be used (trained on the past,
scoring the future) and catches leakage through time. With ``data.group_column``, ``stratified``
and ``time`` keep a group's rows in one part too (``split_groups``).

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

from mlapp.errors import writing
from mlapp.files import staged_beside
from mlapp.params import DataParams, Params, SplitParams, Task
from mlapp.stages import split_groups
from mlapp.stages.split_checks import SplitError, check_parts, check_stratifiable, class_fix
from mlapp.swap import signals_held
from mlapp.tables import stage_table, write_rows

HASH_ROWS = 500_000  # rows hashed at a time on Arrow: bounds the pandas copy
STRATIFY = "use split.method stratified (every class in both parts, but rows change parts as rows are added)"


def row_hashes(frame: pd.DataFrame, data: DataParams, *, by_group: bool = True) -> np.ndarray:
    """A 64-bit hash of each row's key: its group (``data.group_column``, unless ``by_group`` is
    false: the canonical order needs a row's own key), its id, or (a table without one) all of its
    values but the label. pandas hashes a value by its content, so text ids hash alike in every
    string dtype. Keyed by its group, every row of a customer or patient goes to one part: keyed by
    the row, a panel's rows of one entity (4 per person, a firm's years) fell in both, and test
    scored rows of entities the model had trained on. Rows with the same inputs share a part
    whatever their labels: keyed by the label too, each input's rows of one label went to test
    together, taking that answer for that input out of training (a Titanic table of 1,316 rows and
    12 inputs scored ROC AUC 0.0)."""
    column = (by_group and data.group_column) or data.id_column
    key = frame[column] if column else frame.drop(columns=[data.label])
    return pd.util.hash_pandas_object(key, index=False).to_numpy()


def content_order(hashes: np.ndarray, labels: pd.Series) -> np.ndarray:
    """A table without an id: rows sorted by ``row_hashes``, then by label, an order independent of
    the file's; rows equal in both are identical, so which of them goes first changes nothing."""
    return np.lexsort((pd.util.hash_pandas_object(labels, index=False).to_numpy(), hashes))


def in_test(hashes: np.ndarray, params: SplitParams) -> np.ndarray:
    """Method hash: whether each row goes to test. The key's hash, mixed with the seed by
    pandas' 64-bit integer hash (a bijection, so distinct keys stay distinct), is mapped to
    [0, 1) by its top 53 bits and compared with ``test_size``."""
    seed = pd.util.hash_array(np.array([params.seed % 2**64], dtype=np.uint64))
    mixed = pd.util.hash_array(hashes ^ seed)
    return (mixed >> np.uint64(11)) * 2.0**-53 < params.test_size


def positions(
    order: np.ndarray,
    labels: np.ndarray | None,
    names: list[str],
    times: np.ndarray | None,
    hashes: np.ndarray | None,
    params: SplitParams,
    group: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of train and test, each in key order. ``order``: the rows sorted by key
    (stable); ``labels``: class codes to stratify by, ``names`` the classes they code; ``times``:
    event times (method time); ``hashes``: ``row_hashes``, given for method hash and, keyed by
    ``group`` (data.group_column), for every method when a group's rows share a part."""
    if group and labels is not None and hashes is not None:  # every method puts a group in one part
        by = split_groups.WholeGroups(
            f"split.method {params.method}", "split.test_size", ("train", "test"), "rows", "split rows"
        )
        split_groups.check_class_groups(labels, names, hashes, group, by)
    if params.method == "hash":
        if hashes is None:
            raise ValueError("split.method hash needs the rows' key hashes")
        test = in_test(hashes[order], params)
        return order[~test], order[test]
    if params.method == "time":
        if times is None:
            raise ValueError("split.method is 'time' but data.time_column is not set in params.yaml")
        if hashes is not None:
            return split_groups.by_last_time(order, times, hashes, params.test_size)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))  # ties of time are broken by key, as the order says
        by_time = np.lexsort((rank, times))
        cut = len(by_time) - round(len(by_time) * params.test_size)
        return by_time[:cut], by_time[cut:]
    if hashes is not None:
        return split_groups.stratified(order, labels, hashes, params.test_size, params.seed)
    if labels is not None:
        check_stratifiable(labels, names, params.test_size, "split.test_size", ("train", "test"))
    train, test = train_test_split(
        np.arange(len(order)),
        test_size=params.test_size,
        random_state=params.seed,
        stratify=None if labels is None else labels[order],
    )
    return order[np.sort(train)], order[np.sort(test)]


def _codes(labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(class codes, class names) in the classes' sorted order: stratifying by the codes splits
    as by the labels."""
    codes, names = pd.factorize(labels, sort=True)
    return codes, [str(name) for name in names]


def split(
    frame: pd.DataFrame, data: DataParams, params: SplitParams, task: Task = "binary"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The split of an in-memory table (the stage itself works on Arrow: ``run``)."""
    if data.id_column:
        order = np.argsort(frame[data.id_column].to_numpy(), kind="stable")
    else:
        order = content_order(row_hashes(frame, data, by_group=False), frame[data.label])
    labels, names = (None, []) if task == "regression" else _codes(frame[data.label])
    times = frame[data.time_column].to_numpy() if data.time_column else None
    hashes = row_hashes(frame, data) if params.method == "hash" or data.group_column else None
    check_keys(hashes, data.group_column)
    train, test = positions(order, labels, names, times, hashes, params, data.group_column)
    return frame.take(train).reset_index(drop=True), frame.take(test).reset_index(drop=True)


def table_hashes(table: pa.Table, data: DataParams, *, by_group: bool = True) -> np.ndarray:
    """``row_hashes`` on Arrow, HASH_ROWS rows at a time: equal to the in-memory ones (the
    batches convert to pandas as the whole file does)."""
    column = (by_group and data.group_column) or data.id_column
    keys = table.select([column]) if column else table
    batches = keys.to_batches(max_chunksize=HASH_ROWS)
    hashes = [row_hashes(batch.to_pandas(), data, by_group=by_group) for batch in batches]
    return np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)


def check_keys(hashes: np.ndarray | None, group: str | None) -> None:
    """Rows that share a part (a group's, or without an id, rows with the same inputs) all of one
    key: no split.test_size can split them, so say what makes the rows one key and what would."""
    if hashes is None or len(hashes) < 2 or (hashes != hashes[0]).any():
        return
    if group:
        raise SplitError(
            f"all {len(hashes)} rows are one group of data.group_column {group!r}, and a group's rows "
            "share a part whatever split.test_size: name in data.group_column the column of the entity "
            "whose rows repeat (a customer, a patient), of which the table has several, or set it to null"
        )
    raise SplitError(
        f"all {len(hashes)} rows have the same inputs (every feature constant: nothing to learn), and "
        "without data.id_column rows with the same inputs share a part whatever split.test_size: the "
        "table needs rows whose inputs differ (is data.raw the file meant, with its features filled?)"
    )


def _grouped(hashes: np.ndarray | None, group: str | None) -> str:
    """Method hash: how few groups the rows fall in, when keys repeat (``group``: data.group_column,
    or rows without an id repeating inputs: 1,316 rows of 12 inputs can put every row in one part)."""
    if hashes is None or (keys := len(np.unique(hashes))) == len(hashes):
        return ""
    if group:
        held = f"{len(hashes)} rows hold {keys} group(s) of data.group_column {group!r}"
        return f" (a group's rows share a part: these {held})"
    return (
        f" (rows with the same inputs share a part: these {len(hashes)} rows hold {keys} distinct input(s))"
    )


def table_order(table: pa.Table, data: DataParams, hashes: np.ndarray | None) -> np.ndarray:
    """The rows sorted by id (Arrow's stable sort orders text by code point as Python does), or
    without one by ``content_order``. ``hashes``: ``table_hashes``, if already computed (keyed by
    the row, not its group: rows of one group are ordered by their content)."""
    if data.id_column:
        return pc.sort_indices(table.column(data.id_column)).to_numpy()
    if hashes is None or data.group_column:
        hashes = table_hashes(table, data, by_group=False)
    return content_order(hashes, table.column(data.label).to_pandas())


def run(params: Params, *, source: Path, train_path: Path, test_path: Path) -> int:
    data = params.data
    needs = [column for column in data.parts.values() if column]  # label, id, time, group
    table = pq.read_table(stage_table(source, needs))
    labels: np.ndarray | None = None
    names: list[str] = []
    if params.task != "regression":
        labels, names = _codes(table.column(data.label).to_pandas())
    times = table.column(data.time_column).to_numpy() if data.time_column else None
    hashes = table_hashes(table, data) if params.split.method == "hash" or data.group_column else None
    check_keys(hashes, data.group_column)
    order = table_order(table, data, hashes)
    train, test = positions(order, labels, names, times, hashes, params.split, data.group_column)
    if labels is not None:
        how = params.split.method
        fix = class_fix(*([] if how == "stratified" else [STRATIFY]), "change split.test_size")
        check_parts(
            labels,
            names,
            {"train": train, "test": test},
            f"split.method {how}{_grouped(hashes, data.group_column)}",
            fix,
        )
    said = f"{len(train)} train rows, {len(test)} test rows"
    method: str = params.split.method
    grouped = " by group" if method != "hash" and data.group_column else ""
    if grouped:  # whole groups: test_size is met only as nearly as they allow
        said = split_groups.describe(params.split, str(data.group_column), train, test, times)
    if method == "stratified" and params.task == "regression":
        method = f"random{grouped}: a regression label has no classes"
    else:
        method += grouped
    del labels, times, hashes
    write_parts(table, {train_path: train, test_path: test})
    print(f"split ({method}): {said}")
    return 0


def write_parts(table: pa.Table, parts: dict[Path, np.ndarray]) -> None:
    """Each part's rows written beside its file, then both renamed over the previous pair: the
    outputs persist (dvc.yaml), so a split that fails (a full disk, Ctrl-C) leaves the previous
    train and test files, and never a new one beside an old one."""
    staged: dict[Path, Path] = {}
    try:
        for path, rows in parts.items():
            with writing(path):  # a read-only or full disk: one line naming the file
                staged[path] = staged_beside(path)
                write_rows(table, rows, staged[path])
        with signals_held():  # the two renames: one pair or the other, whatever Ctrl-C does
            for path, written in staged.items():
                written.replace(path)
    finally:
        for written in staged.values():
            written.unlink(missing_ok=True)  # gone already once renamed
