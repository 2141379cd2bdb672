"""A failed check said the way a data owner reads it: the column, the rule, a few distinct values
and their rows. Validate, the monitor's batch check and the model's labels (``ModelSpec.encode``)
all say it so; kept apart from the stages because the model (and so the service) imports it."""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlapp.cells import NESTED, nested

# The report's column for a check of the whole table or file, as a line says it.
WHOLE = {"<table>": "the table", "<file>": "the file"}


@dataclass
class Problem:
    """One failed check on one column, with a few examples."""

    column: str
    check: str
    count: int
    values: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def line(self) -> str:
        where = f" at rows {self.rows}" if self.rows else ""
        values = f", e.g. {self.values}" if self.values else ""
        # A check of the whole table or file (its row count, its encoding) has no values to count.
        whole = self.column in WHOLE and not self.values and not self.rows
        count = "" if whole else f": {self.count} value(s)"
        subject = WHOLE.get(self.column, f"column '{self.column}'")
        return f"{subject} failed {self.check}{count}{values}{where}"


def examples(values: pd.Series, limit: int) -> list[Any]:
    """JSON-safe sample of distinct failing values (a missing value is shown as null): five rows
    with the same unknown level say less than five levels (the rows are listed on their own)."""
    if nested(values).any():  # unhashable as stored: compared as their text
        values = values.map(_json)
    head = values.drop_duplicates().head(limit)
    return [_json(v) for v in head.tolist()]


def _json(value: Any) -> Any:
    if isinstance(value, NESTED):  # a Parquet file's list, record or bytes: as its text
        return str(value.tolist() if isinstance(value, np.ndarray) else value)
    if pd.isna(value):
        return None
    # A Parquet file's typed time (timestamp, date32, time64, duration) or decimal: as its text.
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta | decimal.Decimal):
        return str(value)
    value = value.item() if hasattr(value, "item") else value
    # JSON has no infinity (the report would not be written): "inf", as a CSV spells it.
    return str(value) if isinstance(value, float) and math.isinf(value) else value


def problem(failing: pd.Series, check: str, limit: int) -> Problem:
    """``failing``: the failing values of one column (named as it), indexed by their rows."""
    rows = [int(i) for i in failing.index[:limit]]
    return Problem(str(failing.name), check, len(failing), examples(failing, limit), rows)
