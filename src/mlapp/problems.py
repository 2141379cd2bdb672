"""A failed check said the way a data owner reads it: the column, the rule, a few distinct values
and their rows. Validate, the monitor's batch check and the model's labels (``ModelSpec.encode``)
all say it so; kept apart from the stages because the model (and so the service) imports it."""

from __future__ import annotations

import ast
import datetime
import decimal
import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlapp.cell_text import WHOLE_FLOAT, class_text
from mlapp.cells import NESTED, NULLABLE_FIX, nested, placeholder_hint
from mlapp.problem_row import Problem

# pandera's internal check names, said the way a data owner would say them.
CHECK_WORDS = {
    "column_in_dataframe": "required column is present",
    "column_in_schema": (
        "every column is a feature (FEATURES, src/mlapp/schema.py; `uv run mlapp template schema` "
        "drafts a new column's line), data.label, id_column or time_column, or is left out in "
        "data.ignore_columns (params.yaml)"
    ),
    "field_uniqueness": "values are unique",
    "not_nullable": "no missing values",
}
# pandera's checks that a value which did not parse, or is missing, fails again: its column has that
# problem already. Its other rules (range, levels) still name their own rows.
REPEATS = ("coerce_dtype", "dtype", "not_nullable")
MAX_LISTED, SHOWN_LISTED = 10, 5  # a check listing more values than this names the first few


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


def listed(check: str) -> list[Any] | None:
    """The values of pandera's name of a list check (``isin(['a', 'b'])``), None for another."""
    try:
        values = ast.literal_eval(check.partition("(")[2].removesuffix(")"))
    except (ValueError, SyntaxError):
        return None
    return values if isinstance(values, list) else None


def brief(check: str) -> str:
    """pandera's name of a check (``isin(['a', 'b', ...])``) with a long list of values (a category
    of hundreds of levels) cut to its first few and a count: one readable line per failure."""
    name = check.partition("(")[0]
    values = listed(check)
    if values is None or len(values) <= MAX_LISTED:
        return check
    shown = ", ".join(repr(v) for v in values[:SHOWN_LISTED])
    return f"{name}([{shown}, … {len(values) - SHOWN_LISTED} more])"


def rule_words(check: str, values: Iterable[object] = (), fix: str = NULLABLE_FIX) -> str:
    """pandera's name of a check as validate's report says it (``CHECK_WORDS``, ``brief``), and for
    a category's levels, the hint one of ``values`` (failing it) calls for: a placeholder "?"
    (``fix``: what else a missing value of the column needs), else a code written "2.0". The batch
    scorer's rejects say it so too."""
    said = CHECK_WORDS.get(check) or brief(check)
    if check.startswith("isin("):  # a category's "?" is a missing value more often than not
        levels = listed(check) or []
        said += placeholder_hint(values, levels, fix) or decimal_code_hint(values, levels)
    return said


def decimal_code_hint(values: Iterable[object], levels: Sequence[Any]) -> str:
    """The hint for a category's code written as a decimal ("1.0" for the level "1": pandas writes a
    whole-number column with blanks as floats, in a CSV and in Parquet); "" if no value is one."""
    known = {str(level) for level in levels}
    wholes = ((v, WHOLE_FLOAT.fullmatch(v.strip())) for v in values if isinstance(v, str))
    found = next((v for v, whole in wholes if whole and str(int(whole.group(1))) in known), None)
    if found is None:
        return ""
    return (
        f" ({found!r} is the level {class_text(found)!r} written as a decimal, as pandas writes a "
        "whole-number column with blanks: export the codes as whole numbers, e.g. astype('Int64') first)"
    )


def written_missing(values: Iterable[object], missing: Collection[str]) -> str:
    """The hint for failing text spelt like one of ``missing`` (data.missing_values); "" if none is.
    In a CSV it would have been missing, so the file is Parquet, where a missing value is null:
    ``df.astype(str)`` before ``to_parquet`` writes NaN as the text "nan", and every blank of a
    number column fails."""
    spelt = next((v for v in values if isinstance(v, str) and v in missing), None)
    if spelt is None:
        return ""
    return (
        f" ({spelt!r} is in data.missing_values, which reads CSV cells: in Parquet a missing "
        "value is null; write nulls, e.g. without astype(str))"
    )
