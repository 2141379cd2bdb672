"""Request and response shapes, derived from the training schema.

A request record is a pydantic ``TypedDict`` built from ``mlapp.schema.FEATURES``: each
pandera column becomes one required field with the column's type, its range checks as
``ge/gt/le/lt``, its ``isin`` values as a ``Literal`` and its nullability as ``| None``.
So the service enforces the training schema's rules, evaluated in pydantic-core (Rust)
per request instead of pandas + pandera per call (benchmarks/serving.py compares the two).

Where JSON and pandera differ the request is stricter, never looser:
- types are JSON-strict: pandera's ``coerce=True`` would turn ``"5"`` into ``5``; here a
  string for a number is a wrong type (``int_type``), and so is ``5.5`` for an integer. A
  whole number written ``5.0`` is the integer 5, as JSON Schema's ``integer`` reads it: pandas
  writes an integer column with blanks that way, and validate read ``5.0`` in the table so;
- NaN/Infinity are rejected (``finite_number``); a missing value must be an explicit
  ``null``, and only in a nullable column;
- a number past what the model takes (``MODEL_LIMITS``: float32's 3.4e38; int64 in an integer
  column) is refused whatever the column's range says, as validate and the batch scorer refuse it.
A category's text is read in Unicode NFC first, as the tables' is (``mlapp.schema.composed_text``):
"e" + a combining accent is the level "é".
tests/serving/test_records.py proves accept/reject equivalence with ``feature_schema()``.

A check with no exact request equivalent stops the import with a message, so a schema
edit can never silently loosen what the service accepts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandera.dtypes as pa_dtypes
import pandera.pandas as pa
from pydantic import BeforeValidator, ConfigDict, Field, Strict
from typing_extensions import TypedDict

from mlapp.cell_text import nfc
from mlapp.cells import FLOAT32_MAX, INT64_LIMIT
from mlapp.model import ModelSpec

# Strict JSON types; NaN/inf are never a valid feature value (null is the missing value).
RECORD_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
# What a number column takes whatever its range says, as validate and the batch scorer read a
# table (mlapp.cells.parse_values): (lower, upper) rule and bound, and why, said in a 400. 1e300
# in a column without an upper bound was float32 inf to the booster.
MODEL_LIMITS: dict[type, tuple[tuple[str, Any], tuple[str, Any], str]] = {
    float: (
        ("ge", -FLOAT32_MAX),
        ("le", FLOAT32_MAX),
        f"beyond {FLOAT32_MAX:.1e}, the largest number the model takes (XGBoost's float32)",
    ),
    int: (
        ("gt", -int(INT64_LIMIT)),
        ("lt", int(INT64_LIMIT)),
        "past int64, 9.2e18: a code or an identifier, not a quantity",
    ),
}


class SchemaNotServable(TypeError):
    """The schema uses a type or check that the request model cannot express exactly."""


def _base_type(name: str, column: pa.Column) -> type:
    dtype = column.dtype
    if pa_dtypes.is_bool(dtype):  # before int: bool is an int subtype in numpy terms
        return bool
    if pa_dtypes.is_int(dtype) or pa_dtypes.is_uint(dtype):
        return int
    if pa_dtypes.is_float(dtype):
        return float
    if pa_dtypes.is_string(dtype):
        return str
    raise SchemaNotServable(
        f"column {name!r}: dtype {dtype} has no JSON request type; "
        "extend mlapp/serving/records.py (_base_type) before serving it"
    )


def _bounds(name: str, check: pa.Check) -> dict[str, Any]:
    """pandera range checks as pydantic ``ge/gt/le/lt`` keyword arguments."""
    stats: dict[str, Any] = check.statistics or {}
    if check.name == "in_range":
        low = "ge" if stats.get("include_min", True) else "gt"
        high = "le" if stats.get("include_max", True) else "lt"
        return {low: stats["min_value"], high: stats["max_value"]}
    keyword = {
        "greater_than": "gt",
        "greater_than_or_equal_to": "ge",
        "less_than": "lt",
        "less_than_or_equal_to": "le",
    }.get(str(check.name))
    if keyword is None:
        raise SchemaNotServable(
            f"column {name!r}: check {check.name!r} has no exact request equivalent; "
            "extend mlapp/serving/records.py (_bounds) before serving it"
        )
    value = stats["min_value"] if keyword in ("gt", "ge") else stats["max_value"]
    return {keyword: value}


def _within(value: Any, bounds: Mapping[str, Any]) -> bool:
    tests = {
        "ge": lambda b: value >= b,
        "gt": lambda b: value > b,
        "le": lambda b: value <= b,
        "lt": lambda b: value < b,
    }
    return all(tests[k](b) for k, b in bounds.items())


@dataclass(frozen=True)
class Rule:
    """What one column accepts in JSON: its type, range, allowed values and nullability.

    Both the pydantic record model (errors a client can read) and the columnar fast path
    (``columns.py``) are built from these, so they cannot drift apart.
    """

    base: type
    bounds: dict[str, Any]
    allowed: tuple[Any, ...] | None  # the exact values, for categories (a Literal)
    nullable: bool


def field_rule(name: str, column: pa.Column) -> Rule:
    if column.regex or not column.required or column.unique:
        raise SchemaNotServable(
            f"column {name!r}: regex/optional/unique columns are not per-record rules; "
            "serve only plain required columns"
        )
    base = _base_type(name, column)
    bounds: dict[str, Any] = {}
    allowed: list[Any] | None = None
    for check in column.checks:
        if check.name == "isin":
            allowed = list((check.statistics or {})["allowed_values"])
        else:
            bounds.update(_bounds(name, check))
    values: tuple[Any, ...] | None = None
    if allowed is not None:
        # Allowed values that also pass the range checks: the intersection pandera enforces.
        values = tuple(v for v in allowed if _within(v, bounds))
        # Literal matching is exact only for strings and integers.
        if base not in (str, int) or not values or any(type(v) is not base for v in values):
            raise SchemaNotServable(f"column {name!r}: isin values {allowed} are not served for {base}")
        bounds = {}
    elif base is str and bounds:
        raise SchemaNotServable(f"column {name!r}: range checks on strings are not served")
    elif base in MODEL_LIMITS:
        bounds = _model_range(bounds, MODEL_LIMITS[base][:2])
    return Rule(base, bounds, values, bool(column.nullable))


def _model_range(bounds: Mapping[str, Any], limits: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``bounds`` with each side the schema leaves wider than the model's limit (or open) at that limit."""
    out = dict(bounds)
    for (rule, limit), side in zip(limits, (("ge", "gt"), ("le", "lt")), strict=True):
        if not any(_tighter(k, v, limit) for k, v in out.items() if k in side):
            out = {k: v for k, v in out.items() if k not in side} | {rule: limit}
    return out


def _tighter(rule: str, bound: Any, limit: Any) -> bool:
    """A schema bound inside the model's ``limit`` on its side, or at it and excluding it (gt, lt)."""
    if bound == limit:
        return rule in ("gt", "lt")
    return bool(bound > limit) if rule in ("ge", "gt") else bool(bound < limit)


def _composed(value: Any) -> Any:
    """Text in NFC (``mlapp.cell_text.nfc``) before the exact ``Literal`` match; anything else as it came."""
    return nfc(value) if type(value) is str else value


def _whole(value: Any) -> Any:
    """``5.0`` as the integer 5, before the strict int check; anything else as it came."""
    return int(value) if type(value) is float and value.is_integer() else value


def field_annotation(name: str, column: pa.Column) -> Any:
    """The pydantic annotation that accepts exactly the JSON values the column allows."""
    rule = field_rule(name, column)
    annotation: Any
    if rule.allowed is not None:
        annotation = Literal[rule.allowed]
        if rule.base is str:
            annotation = Annotated[annotation, BeforeValidator(_composed)]
    else:
        annotation = Annotated[rule.base, Strict(), Field(**rule.bounds)]
        if rule.base is int:
            annotation = Annotated[annotation, BeforeValidator(_whole)]
    return annotation | None if rule.nullable else annotation


def record_type(features: Mapping[str, pa.Column]) -> Any:
    """A ``TypedDict`` class with one required field per feature column (typed as ``Any``: dynamic)."""
    fields = {name: field_annotation(name, column) for name, column in features.items()}
    record = TypedDict("Record", fields)  # type: ignore[misc]
    record.__pydantic_config__ = RECORD_CONFIG  # type: ignore[attr-defined]
    record.__doc__ = "One row of model features, with the training schema's types, ranges and categories."
    return record


class Encoder:
    """Records to the booster's input matrix, without pandas.

    Same encoding as ``ModelSpec.to_matrix`` + ``xgb.DMatrix``: features in the spec's
    order, categories as their index in the spec's levels, bool as 0/1, null as NaN,
    float32 (the booster's own precision).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.features = list(spec.features)
        # A record's values in feature order, in C (itemgetter of one key returns a bare value).
        first = self.features[0]
        self._row: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*self.features) if len(self.features) > 1 else lambda r: (r[first],)
        )
        self._codes: list[dict[str, float] | None] = [
            {level: float(i) for i, level in enumerate(spec.categories[name])}
            if name in spec.categories
            else None
            for name in self.features
        ]

    def matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = np.empty((len(records), len(self.features)), dtype=np.float32)
        columns = zip(*map(self._row, records), strict=True)
        for j, (values, codes) in enumerate(zip(columns, self._codes, strict=True)):
            # None (null) becomes NaN on assignment; it is not a level, so categories map it to NaN too.
            out[:, j] = values if codes is None else [codes.get(v, math.nan) for v in values]
        return out


def check_compatible(features: Mapping[str, pa.Column], spec: ModelSpec) -> None:
    """Fail at start-up if the schema and the trained model disagree on inputs."""
    from mlapp.schema import categories

    schema_features = list(features)
    if schema_features != list(spec.features):
        raise SchemaNotServable(
            f"the model was trained on features {spec.features}, the schema now has "
            f"{schema_features}: retrain (`make run`) before serving"
        )
    schema_levels = categories(pa.DataFrameSchema(dict(features)))
    if schema_levels != spec.categories:
        raise SchemaNotServable(
            f"category levels differ between schema {schema_levels} and model {spec.categories}: "
            "retrain (`make run`) before serving"
        )
