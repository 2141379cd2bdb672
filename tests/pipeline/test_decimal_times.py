"""Numbers in a time column: a decimal year (2024.5, an economics export's mid-2024) was read by
pandas' ISO 8601 reader as a year and month (May 2024; 2024.12 December, after 2024.5), and a
Parquet float as its year's 1 January: silently a wrong date, which a time split then ordered.
Such a value is refused, naming the column, its rows and the fix; 2024 and 20240105 (ISO 8601's
year and basic date) are read as CSV text and typed numbers alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp.cells import parse_hint, parse_values
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.stages import validate
from tests.conftest import REPO
from tests.pipeline import refused

PARAMS = load_params(REPO / "params.yaml")
ROWS = 300
FRACTION = (
    "parse as datetime64[ns] (decimal years? 2024.5 is mid-2024 as a number, May 2024 as a year and month"
)


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2024.5", None),  # was 2024-05-01
        ("2024.12", None),  # was 2024-12-01: after 2024.5
        ("2024.05", None),  # was 2024-05-01
        ("2024.1", None),  # was 2024-01-01
        (" 1935.0", None),
        ("2024.25", None),
        ("2024", "2024-01-01"),
        ("20240105", "2024-01-05"),
        ("2024.05.01", "2024-05-01"),  # a date written with dots: year, month, day
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00"),
    ],
)
def test_a_number_written_with_a_decimal_point_is_no_time(value: str, read: str | None) -> None:
    parsed, bad = parse_values(pd.Series([value], dtype="str"), "datetime64[ns]", ".")
    assert bad.tolist() == [read is None]
    assert parsed.tolist() == [pd.Timestamp(read) if read else pd.NaT]


@pytest.mark.parametrize(
    ("value", "hint"),
    [("2024,5", " (decimal years?"), ("2024,12", " (decimal years?"), ("1935,0", " (years written as")],
)
def test_a_decimal_year_written_with_the_decimal_comma_gets_the_decimal_year_hint(
    value: str, hint: str
) -> None:
    """With data.decimal ",", 2024,5 is the decimal year 2024.5 is: the same hint, not ISO 8601's."""
    assert parse_values(pd.Series([value], dtype="str"), "datetime64[ns]", ",")[1].tolist() == [True]
    assert parse_hint("event_time", pd.Series([value], dtype="str"), "datetime64[ns]", ",").startswith(hint)


@pytest.mark.parametrize(
    ("values", "read", "bad"),
    [
        (pd.Series([2024.5, 2024.25, 2024.0]), [None, None, None], [True, True, True]),  # each was 1 January
        (pd.Series([20240105, 20240301]), ["2024-01-05", "2024-03-01"], [False, False]),  # as the CSV's text
        (pd.Series([2024, 2025]), ["2024-01-01", "2025-01-01"], [False, False]),  # a year alone beside
        (pd.Series([20240105, 2024]), ["2024-01-05", None], [False, True]),  # a full date is refused
        (pd.Series([20240105, None], dtype="Int64"), ["2024-01-05", None], [False, False]),
        (
            pd.Series([2024.5, "2024-05-01", 20240105, None], dtype=object),  # a JSON log's
            [None, "2024-05-01", "2024-01-05", None],
            [True, False, False, False],
        ),
    ],
)
def test_typed_numbers_are_read_as_the_text_a_csv_holds(
    values: pd.Series, read: list[str | None], bad: list[bool]
) -> None:
    """A Parquet column's (or a JSON log's) numbers: pandas read a float as its year's 1 January
    (2024.25 too), and warns it will read every number as a count since 1970."""
    parsed, failed = parse_values(values, "datetime64[ns]", ".")
    assert failed.tolist() == bad
    assert parsed.tolist() == [pd.Timestamp(r) if r else pd.NaT for r in read]


def _sample(tmp_path: Path, times: list[object], suffix: str) -> Path:
    frame = generate(ROWS, 5)
    frame["event_time"] = times
    source = tmp_path / f"raw{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, index=False)
    return source


def _problems(tmp_path: Path, source: Path) -> list[dict]:
    return refused.problems(PARAMS, tmp_path, source)


def test_decimal_years_in_a_csv_stop_validate_naming_column_rows_and_fix(tmp_path: Path) -> None:
    """A time split took 2024.12 (mid-February as a number) as December, the test part's latest
    rows, and 2024.5 as May: the order of events reversed, without a word."""
    times = [f"20{10 + i % 15}-{1 + i % 12:02d}-01" for i in range(ROWS)]
    for row, value in {3: "2024.5", 7: "2024.12", 11: "2023.9", 20: "2024.25"}.items():
        times[row] = value
    (problem,) = _problems(tmp_path, _sample(tmp_path, times, ".csv"))
    assert problem["column"] == "event_time" and problem["check"].startswith(FRACTION), problem
    assert problem["rows"] == [3, 7, 11, 20] and problem["values"] == [
        "2024.5",
        "2024.12",
        "2023.9",
        "2024.25",
    ]


def test_decimal_years_in_a_parquet_float_column_stop_validate(tmp_path: Path) -> None:
    times = [2000 + 0.25 * (i % 100) for i in range(ROWS)]  # 2000.0, 2000.25, ...: each was 1 January
    (problem,) = _problems(tmp_path, _sample(tmp_path, times, ".parquet"))
    assert problem["column"] == "event_time" and problem["check"].startswith(FRACTION), problem
    assert problem["count"] == ROWS and problem["rows"][:3] == [0, 1, 2]


def test_a_parquet_int_column_of_basic_dates_is_read_as_its_text(tmp_path: Path) -> None:
    days = [20240101 + i % 28 for i in range(ROWS)]
    source = _sample(tmp_path, days, ".parquet")
    assert pa.types.is_integer(pq.read_schema(source).field("event_time").type)
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(PARAMS, source=source, output=out, report=report) == 0
    read = pd.read_parquet(out)["event_time"]
    assert read.tolist() == [pd.Timestamp(str(day)) for day in days]
