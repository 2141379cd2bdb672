"""Stage 2: split the validated table into train and test, seeded and reproducible.

``stratified`` keeps the label rate equal in both parts; ``time`` puts the latest
events in test, which is closer to how the model will be used (trained on the past,
scoring the future) and catches leakage through time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mlapp.params import DataParams, Params, SplitParams
from mlapp.tables import read_frame, write_frame


def split(frame: pd.DataFrame, data: DataParams, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    if params.method == "time":
        if not data.time_column:
            raise ValueError("split.method is 'time' but data.time_column is not set in params.yaml")
        ordered = frame.sort_values([data.time_column, data.id_column], kind="stable")
        cut = len(ordered) - round(len(ordered) * params.test_size)
        return ordered.iloc[:cut], ordered.iloc[cut:]
    # Sort first so the split depends on the data, not on the row order of the file.
    ordered = frame.sort_values(data.id_column, kind="stable")
    train, test = train_test_split(
        ordered, test_size=params.test_size, random_state=params.seed, stratify=ordered[data.label]
    )
    return train.sort_values(data.id_column), test.sort_values(data.id_column)


def run(params: Params, *, source: Path, train_path: Path, test_path: Path) -> int:
    train, test = split(read_frame(source), params.data, params.split)
    write_frame(train.reset_index(drop=True), train_path)
    write_frame(test.reset_index(drop=True), test_path)
    print(f"split ({params.split.method}): {len(train)} train rows, {len(test)} test rows")
    return 0
