"""The accept path of ``/predict``: validate and encode a request column by column.

pydantic-core validating one ``Record`` per row costs ~5 us a row; most requests are
valid, and for them a few C-level passes per *column* decide the same thing: the set of
Python types in the column, ``min``/``max`` against the range, a dict lookup per category.
``FastPath.matrix`` returns the booster's float32 matrix when every rule holds and
``None`` as soon as anything is off: the caller then runs the pydantic model
(``records.record_type``), which names the failing field and rule. Both are built from
the same ``records.Rule`` per column; tests/serving/test_columns.py checks that this path
never accepts what the pydantic model rejects.

JSON numbers arrive as ``int`` or ``float`` (orjson), so the pydantic rules read: an integer
column takes ``int``, or a ``float`` with nothing after the point (``5.0``, never ``5.5``, never
``bool``); a float column takes ``int`` or ``float``; a boolean column ``bool``; a category the
exact string (or integer).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlapp.model import ModelSpec
from mlapp.serving.records import Rule

NUMBER_TYPES = {int: frozenset({int, float}), float: frozenset({int, float}), bool: frozenset({bool})}
COMPARE = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


@dataclass(frozen=True)
class Column:
    index: int  # position in the model's feature order
    types: frozenset[type]
    codes: dict[Any, float] | None  # category -> level index (null -> NaN); None: a number
    checks: tuple[tuple[Callable[[Any, Any], bool], Any], ...]  # (compare, bound): value must pass
    nullable: bool
    whole: bool  # an integer column: a float must have nothing after the point


def _column(index: int, rule: Rule, levels: list[str] | None) -> Column:
    if rule.allowed is not None:
        # Levels the model knows, restricted to what the rule allows: an allowed value the
        # model has no level for cannot be encoded, so the slow path decides about it.
        order = levels if levels is not None else [str(v) for v in rule.allowed]
        codes = {v: float(order.index(str(v))) for v in rule.allowed if str(v) in order}
        types = frozenset({rule.base})
    else:
        codes = None
        types = NUMBER_TYPES[rule.base]
    if rule.nullable:
        types = types | {type(None)}
        if codes is not None:
            codes[None] = math.nan
    checks = tuple((COMPARE[k], bound) for k, bound in rule.bounds.items())
    return Column(index, types, codes, checks, rule.nullable, codes is None and rule.base is int)


class FastPath:
    """Valid requests straight to the booster's input; anything else is left to pydantic."""

    def __init__(self, rules: Mapping[str, Rule], spec: ModelSpec, max_rows: int) -> None:
        self.features = list(spec.features)
        self.width = len(self.features)
        self.max_rows = max_rows
        self._row = operator.itemgetter(*self.features)
        self._columns = [
            _column(j, rules[name], spec.categories.get(name)) for j, name in enumerate(self.features)
        ]

    def records(self, body: Any) -> list[dict[str, Any]] | None:
        """The ``records`` list of a well-formed body (one key, 1..max_rows objects), else None."""
        if type(body) is not dict or len(body) != 1:
            return None
        records = body.get("records")
        if type(records) is not list or not 0 < len(records) <= self.max_rows:
            return None
        width = self.width
        if not all(type(r) is dict and len(r) == width for r in records):
            return None
        return records

    def matrix(self, records: list[dict[str, Any]]) -> np.ndarray | None:
        try:
            return self._matrix(records)
        except (OverflowError, TypeError, ValueError):  # e.g. an integer too big for a float
            return None

    def _matrix(self, records: list[dict[str, Any]]) -> np.ndarray | None:
        try:
            # KeyError: a record lacks a feature (with the right key count: it has an extra one).
            rows = (
                list(map(self._row, records)) if self.width > 1 else [(r[self.features[0]],) for r in records]
            )
        except KeyError:
            return None
        out = np.empty((len(records), self.width), dtype=np.float32)
        for column, values in zip(self._columns, zip(*rows, strict=True), strict=True):
            kinds = set(map(type, values))
            if not kinds <= column.types:
                return None
            fractions = column.whole and float in kinds
            if fractions and not all(v.is_integer() for v in values if type(v) is float):
                return None
            if column.codes is not None:
                codes = column.codes
                try:
                    out[:, column.index] = [codes[v] for v in values]
                except KeyError:
                    return None
                continue
            present: Any = [v for v in values if v is not None] if column.nullable else values
            if present:
                low, high = min(present), max(present)  # exact int/float comparisons, in C
                if not all(check(low, bound) and check(high, bound) for check, bound in column.checks):
                    return None
                if not (math.isfinite(low) and math.isfinite(high)):
                    return None
            # None becomes NaN (the missing value) on conversion; bools become 0/1.
            out[:, column.index] = np.array(values, dtype=np.float64)
        return out
