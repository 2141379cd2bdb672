"""The schema draft checks a column's distinct values, not each of its rows: a category of 5,000
levels in a million rows is 5,000 values to parse, and the draft says what it said row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlapp import schema_draft


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many values each parse the draft asks for was given."""
    sizes: list[int] = []
    parse = schema_draft.parse_values

    def counted(series: pd.Series, dtype: str, decimal: str) -> tuple[pd.Series, pd.Series]:
        sizes.append(len(series))
        return parse(series, dtype, decimal)

    monkeypatch.setattr(schema_draft, "parse_values", counted)
    return sizes


def rows(levels: list[str], count: int) -> pd.Series:
    picked = np.random.default_rng(0).integers(0, len(levels), count)
    return pd.Series(np.asarray(levels, dtype=object)[picked], dtype=object)


def test_a_category_is_parsed_once_per_level(parsed: list[int]) -> None:
    levels = [f"shop {i}" for i in range(20)]
    drafted = schema_draft.feature("shop", rows(levels, 5_000), ".")
    assert drafted.call == "_category(" and list(drafted.levels) == sorted(levels)
    assert parsed and max(parsed) == 20


def test_a_number_is_parsed_once_per_value(parsed: list[int]) -> None:
    drafted = schema_draft.feature("visits", rows([str(i) for i in range(7)], 5_000), ".")
    assert drafted.call == "_number(int, 0, 20" and max(parsed) == 7


def test_a_marker_counts_its_rows_not_its_one_spelling() -> None:
    """A marker such as "unknown" is one distinct value among numbers, but its share is of the
    rows: in 2% of them a mark of a missing value, in 30% a level of a category."""
    numbers = [str(i % 90) for i in range(980)]
    few = schema_draft.feature("x", pd.Series(numbers + ["unknown"] * 20, dtype=object), ".")
    assert few.placeholders == ("unknown",) and few.call == "_number(int, 0, 200"
    many = schema_draft.feature("x", pd.Series(numbers[:700] + ["unknown"] * 300, dtype=object), ".")
    assert not many.placeholders and many.call == "_category("
