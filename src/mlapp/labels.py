"""Class labels as text, one rule for every table: what validate, train, the monitor and the
report count as the same class.

Apart from the model (mlapp.model) so validate, which reads labels but never a model, does
not import XGBoost: about half a CPU-second of every validate process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlapp.cell_text import class_text


def whole_numbers(numbers: pd.Series) -> bool:
    """Whether every (present) number is an integer: class labels are then shown as integers."""
    return bool(pd.to_numeric(numbers).dropna().mod(1).eq(0).all())


# Columns whose equal values (==, hash) all have one text: True == 1 but "true" != "1", and
# non-whole -0.0 == 0.0 but repr differs, so mixed and non-whole columns are read row by row.
ONE_TEXT_PER_VALUE = frozenset({"string", "integer", "floating", "mixed-integer-float", "boolean", "empty"})


def _each_distinct(values: pd.Series, text: Callable[[Any], str]) -> pd.Series:
    """``text`` of every present value, NaN for a missing one (as ``_each_row``), called once per
    distinct value: a monitored batch's label column is millions of rows holding a few classes."""
    codes, distinct = pd.factorize(values)  # missing: code -1, the NaN appended last
    shown = np.array([*(text(v) for v in distinct), np.nan], dtype=object)[codes]
    return pd.Series(shown, index=values.index, name=values.name, dtype=object)


def _each_row(values: pd.Series, text: Callable[[Any], str]) -> pd.Series:
    return values.map(lambda v: None if pd.isna(v) else text(v)).astype(object)


def label_text(values: pd.Series, integral: bool | None = None) -> pd.Series:
    """Class labels as text: 1, 1.0, "1.0" and "1" are the same class, as are True and "True"
    (``class_text``); missing stays missing.

    Numbers are shown as integers when every label is one: ``integral`` says so for a table
    that arrives in pieces (None: decided from ``values``)."""
    if pd.api.types.is_bool_dtype(values):
        return _each_distinct(values, lambda v: str(bool(v)).lower())
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values)
        if integral is None:
            integral = whole_numbers(numbers)
        if integral:
            return _each_distinct(numbers, lambda v: str(int(v)))
        return _each_row(numbers, lambda v: repr(float(v)))
    if pd.api.types.infer_dtype(values, skipna=True) in ONE_TEXT_PER_VALUE:
        return _each_distinct(values, class_text)
    return _each_row(values, class_text)


def spelling_key(label: str) -> str:
    """What spellings of one class share: case and a trailing "." aside (UCI's adult table writes
    ">50K." in its test part, ">50K" in its training part). Validate refuses a table holding two
    such spellings; the monitor names a batch's spelling of a model's class so."""
    return label.casefold().rstrip(".") or label


def spelt_as(values: Iterable[str], classes: Sequence[str]) -> list[tuple[str, str]]:
    """(value, the class of ``classes`` it spells another way) for each of ``values`` that does."""
    keys = {spelling_key(c): c for c in classes}
    return [(v, keys[spelling_key(v)]) for v in values if spelling_key(v) in keys and v not in classes]
