"""label_text: each distinct label read once (a batch's label column is millions of rows), the
same text as reading every row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp import labels
from mlapp.cell_text import class_text

COLUMNS = {
    "text": pd.Series([" 1 ", "1.0", "0", None, "TRUE", "yes", "é", "e\u0301"] * 3, index=range(5, 29)),
    "numbers": pd.Series([1.0, 0.0, np.nan, -0.0, 2.0] * 3, name="churned"),
    "fractions": pd.Series([0.5, -0.0, 0.0, np.nan] * 3),  # repr keeps -0.0: read row by row
    "integers": pd.Series([3, 1, 3, 2], dtype="Int64"),
    "booleans": pd.Series([True, False, None, True], dtype="boolean"),
    "mixed": pd.Series([True, 1, 1.0, "1", None, False, 0], dtype=object),  # True == 1: row by row
    "floats as objects": pd.Series([1, 1.0, 2.5, None], dtype=object),
    "empty": pd.Series([], dtype=object),
}


def _row_by_row(values: pd.Series) -> pd.Series:
    """label_text as it read every row before (the reference)."""
    if pd.api.types.is_bool_dtype(values):
        return values.map(lambda v: None if pd.isna(v) else str(bool(v)).lower()).astype(object)
    if pd.api.types.is_numeric_dtype(values):
        integral = labels.whole_numbers(values)
        return values.map(
            lambda v: None if pd.isna(v) else str(int(v)) if integral else repr(float(v))
        ).astype(object)
    return values.map(lambda v: None if pd.isna(v) else class_text(v)).astype(object)


@pytest.mark.parametrize("name", list(COLUMNS))
def test_the_text_of_every_row(name: str) -> None:
    values = COLUMNS[name]
    shown = labels.label_text(values)
    pd.testing.assert_series_equal(shown, _row_by_row(values))
    assert [type(v) for v in shown] == [type(v) for v in _row_by_row(values)]  # NaN, not None


def test_a_long_column_is_read_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def counted(value: object) -> str:
        calls.append(value)
        return class_text(value)

    monkeypatch.setattr(labels, "class_text", counted)
    column = pd.Series(["0", "1", None, "1"] * 50_000)
    assert labels.label_text(column).value_counts().to_dict() == {"1": 100_000, "0": 50_000}
    assert sorted(calls) == ["0", "1"]
