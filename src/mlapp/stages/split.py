"""Stage 2: split the validated table into train and test, seeded and reproducible.

``stratified`` keeps the label rate equal in both parts; ``time`` puts the latest
events in test, which is closer to how the model will be used (trained on the past,
scoring the future) and catches leakage through time.

Rows are put in a canonical order first (by id, or by a hash of each row's content when
the table has no id column), so the split depends on the data and not on the file's row order.
Regression labels are not stratified (a continuous label has no classes to balance).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlapp.params import DataParams, Params, SplitParams, Task
from mlapp.tables import read_frame, write_frame


def row_keys(frame: pd.DataFrame, data: DataParams) -> np.ndarray:
    """The id, or (a table without one) a hash of each row's values: an order independent of
    the file's; identical rows get equal keys, and which of them goes first changes nothing."""
    if data.id_column:
        return frame[data.id_column].to_numpy()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def split(
    frame: pd.DataFrame, data: DataParams, params: SplitParams, task: Task = "binary"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows are chosen by position and copied once (``take``): at 10M rows the table is the
    memory, and sorting or slicing whole frames first would hold several copies of it."""
    keys = row_keys(frame, data)
    if params.method == "time":
        if not data.time_column:
            raise ValueError("split.method is 'time' but data.time_column is not set in params.yaml")
        order = np.lexsort((keys, frame[data.time_column].to_numpy()))
        cut = len(order) - round(len(order) * params.test_size)
        return _rows(frame, order[:cut]), _rows(frame, order[cut:])
    # Ordered by key first so the split depends on the data, not on the row order of the file.
    order = np.argsort(keys, kind="stable")
    train, test = train_test_split(
        np.arange(len(order)),
        test_size=params.test_size,
        random_state=params.seed,
        stratify=None if task == "regression" else frame[data.label].to_numpy()[order],
    )
    # Each part in key order, as the positions in `order` are.
    return _rows(frame, order[np.sort(train)]), _rows(frame, order[np.sort(test)])


def _rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame.take(positions).reset_index(drop=True)


def run(params: Params, *, source: Path, train_path: Path, test_path: Path) -> int:
    train, test = split(read_frame(source), params.data, params.split, params.task)
    write_frame(train, train_path)
    write_frame(test, test_path)
    print(f"split ({params.split.method}): {len(train)} train rows, {len(test)} test rows")
    return 0
