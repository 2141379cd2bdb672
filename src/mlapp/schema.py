"""The table's contract: the one module to edit (with params.yaml) for your own data.

``FEATURES`` is the truth for every model input: type, range, allowed categories and
nullability. The id, event-time and label columns are named in params.yaml (``data:``)
and added by ``raw_schema``. Training validates the raw table with ``raw_schema``;
the service validates requests with ``feature_schema``: both come from ``FEATURES``,
so training and serving cannot disagree.

A ``str`` feature must carry a ``Check.isin([...])``: its values become the model's
categories (XGBoost's native categorical support), fixed here rather than learnt
from whatever the training rows happen to contain.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from mlapp.cell_text import missing_clash, nfc
from mlapp.cells import composed
from mlapp.errors import UserError
from mlapp.params import DataParams


def _category(values: list[str], *, nullable: bool = False) -> pa.Column:
    # Levels are text as the file holds them: _category([1, 2, 3]) means "1", "2", "3"; in NFC and
    # without spaces around them, as a table's values are read (composed_text, cells.stripped).
    return pa.Column(str, pa.Check.isin([nfc(str(v).strip()) for v in values]), nullable=nullable)


def _number(dtype: type, low: float, high: float, *, nullable: bool = False) -> pa.Column:
    # numpy's int64 has no missing value: a whole-number column with blanks is pandas' Int64.
    kind = "Int64" if dtype is int and nullable else dtype
    return pa.Column(kind, pa.Check.in_range(low, high), nullable=nullable)


FEATURES: dict[str, pa.Column] = {
    "tenure_months": _number(int, 0, 120),
    "monthly_charges": _number(float, 0.0, 1_000.0),
    "total_charges": _number(float, 0.0, 200_000.0, nullable=True),
    "contract": _category(["month-to-month", "one-year", "two-year"]),
    "payment_method": _category(
        ["electronic-check", "mailed-check", "bank-transfer", "credit-card"], nullable=True
    ),
    "internet_service": _category(["dsl", "fiber", "none"]),
    "region": _category(["north", "south", "east", "west"]),
    "plan_tier": _category(["basic", "standard", "premium"]),
    "paperless_billing": pa.Column(bool),
    "age": _number(int, 18, 110),
    "num_products": _number(int, 1, 20),
    "support_tickets_90d": _number(int, 0, 100),
    "logins_30d": _number(int, 0, 1_000),
    "avg_session_minutes": _number(float, 0.0, 1_440.0, nullable=True),
    "late_payments_12m": _number(int, 0, 12),
    "discount_pct": _number(float, 0.0, 100.0),
    "satisfaction_score": _number(float, 1.0, 10.0, nullable=True),
}


# A column's metadata key for text read exactly as the file writes it: an id is a key that joins
# rows back to their source (the batch scorer copies it, the monitor's refresh matches it with
# data.raw's), so "A1 " and "A1" are two ids, not one id stripped (cells.stripped) into a duplicate.
AS_WRITTEN = "as_written"


def raw_schema(data: DataParams, task: str = "binary") -> pa.DataFrameSchema:
    """The whole raw table: optional id and event time, features and the label.

    A class label is text (numbers too: 1 and "1" are one class), restricted to
    ``data.classes`` when declared; a regression label is a finite number. Missing labels
    are allowed here: ``data.missing_label`` decides (validate drops or fails them).
    """
    check_features()
    for feature, levels in categories(feature_schema()).items():
        spelt_missing = missing_clash(f"features.{feature}: isin", levels, data.missing_values)
        if spelt_missing:
            raise UserError(f"{spelt_missing} (src/mlapp/schema.py, params.yaml)")
    named = data.parts
    for setting, name in named.items():
        if name in FEATURES:  # a label among the inputs is learnt from itself (perfect, useless metrics)
            raise UserError(
                f"{name!r} is data.{setting} in params.yaml and a feature in FEATURES "
                "(src/mlapp/schema.py): remove it from FEATURES"
            )
    used = [name for name in data.ignore_columns if name in FEATURES or name in named.values()]
    if used:
        raise UserError(
            f"{used} in data.ignore_columns (params.yaml) are used: a feature in FEATURES "
            "(src/mlapp/schema.py) or data.label, id_column, time_column or group_column; ignore only "
            "other columns"
        )
    columns: dict[str, pa.Column] = {}
    if data.id_column:
        columns[data.id_column] = pa.Column(str, unique=True, metadata={AS_WRITTEN: True})
    if data.time_column:
        columns[data.time_column] = pa.Column("datetime64[ns]")
    if data.group_column:  # a key like the id (read as written), shared by a group's rows
        columns[data.group_column] = pa.Column(str, metadata={AS_WRITTEN: True})
    columns.update(FEATURES)
    if task == "regression":
        columns[data.label] = pa.Column(float, nullable=True)
    else:
        checks = [pa.Check.isin(data.classes)] if data.classes else []
        columns[data.label] = pa.Column(str, checks, nullable=True)
    # Read past: allowed in the file (validate drops them), never checked.
    columns.update({name: pa.Column(required=False, nullable=True) for name in data.ignore_columns})
    schema = pa.DataFrameSchema(
        columns,
        strict=True,  # an unexpected column is usually a typo or an upstream change: say so
        coerce=True,  # CSV carries no types; a value that cannot be coerced is reported
        name="raw_table",
    )
    return composed_text(schema)


# Before pandera's checks (and its coercion): a category's text in NFC, the form of its levels.
COMPOSED = pa.Parser(composed, name="unicode_nfc")


def composed_text(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """``schema`` with every category's values read in NFC (``mlapp.cell_text.nfc``): a level written
    "e" + a combining accent in one file and as one "é" in another is one level (the service's
    records do the same, ``mlapp.serving.records``)."""
    return schema.update_columns(
        {name: {"parsers": [COMPOSED, *schema.columns[name].parsers]} for name in categories(schema)}
    )


# numpy types without a missing value, and how to declare a feature of that kind with blanks.
NULLABLE_AS = {
    "int64": "_number(int, low, high, nullable=True)",
    "bool": 'pa.Column("boolean", nullable=True)',
}


def check_features() -> None:
    """Every feature is a type the model takes: a number, a boolean or an isin-checked category."""
    levels = categories(pa.DataFrameSchema(FEATURES))
    for name, column in FEATURES.items():
        if any(c in name for c in "[]<"):
            raise UserError(
                f"feature {name!r}: XGBoost refuses '[', ']' and '<' in a feature name: rename the column "
                "in the file and in FEATURES (src/mlapp/schema.py), e.g. 'size (cm)', 'income under 50k'"
            )
        dtype = column.dtype.type
        text = pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
        if text and name not in levels:
            raise UserError(
                f"feature {name!r} is text without Check.isin([...]) (src/mlapp/schema.py): list its "
                f"categories, the model's levels; or list {name!r} in data.ignore_columns (params.yaml) "
                "for free text the model must not use"
            )
        listed = [
            v for check in column.checks if check.name == "isin" for v in check.statistics["allowed_values"]
        ]
        if text and not all(isinstance(v, str) for v in listed):  # "1" would never equal 1
            raise UserError(
                f"feature {name!r} is text with levels that are not text (src/mlapp/schema.py): "
                f"quote them ({[str(v) for v in listed][:5]}) or declare a number"
            )
        if decomposed := next((v for v in listed if isinstance(v, str) and nfc(v) != v), None):
            raise UserError(
                f"feature {name!r} has the level {decomposed!r} not in Unicode NFC (a letter and its "
                f"accent as two characters, src/mlapp/schema.py): values are read in NFC and would never "
                f"match it; write it composed, {nfc(decomposed)!r} (_category does)"
            )
        if spaced := next((v for v in listed if isinstance(v, str) and v != v.strip()), None):
            raise UserError(
                f"feature {name!r} has the level {spaced!r} with spaces around it (src/mlapp/schema.py): "
                f"a table's values are read without them and would never match it; write {spaced.strip()!r} "
                "(_category does)"
            )
        kind = str(column.dtype)
        if not text and name in levels:  # the model's levels are text: a number matched none, all missing
            codes = ", ".join(str(v) for v in listed[:5]) + (", ..." if len(listed) > 5 else "")
            raise UserError(
                f"feature {name!r} is {kind} with Check.isin (src/mlapp/schema.py): category levels are "
                f"text, as the file holds them; declare it _category([{codes}]), or as a number without "
                "isin (_number)"
            )
        if column.nullable and kind in NULLABLE_AS:
            raise UserError(
                f"feature {name!r} is {kind} and nullable (src/mlapp/schema.py): {kind} has no "
                f"missing value; declare it {NULLABLE_AS[kind]}"
            )
        if not text and not pd.api.types.is_numeric_dtype(dtype):
            raise UserError(
                f"feature {name!r} has type {column.dtype} (src/mlapp/schema.py): a model input is a "
                "number, a boolean or a category (a date: derive numbers from it in the file, e.g. its "
                f"age in days) or list {name!r} in data.ignore_columns (params.yaml)"
            )


def feature_schema() -> pa.DataFrameSchema:
    """Model inputs only: what the service accepts and the model is trained on."""
    return composed_text(pa.DataFrameSchema(FEATURES, strict=True, coerce=True, name="features"))


def categories(schema: pa.DataFrameSchema) -> dict[str, list[str]]:
    """Allowed values of each categorical (``isin``-checked) column, in declared order."""
    levels: dict[str, list[str]] = {}
    for name, column in schema.columns.items():
        allowed = [c.statistics["allowed_values"] for c in column.checks if c.name == "isin"]
        if allowed:
            levels[name] = [str(v) for v in allowed[0]]
    return levels
