"""Which ways of writing a time validate reads, beyond ISO 8601's own.

pandas' ISO 8601 reader also takes `/`, `.` and a space between a date's parts. A full date
written year first (`2024.05.01`, `2024/05/01`) has one reading, year, month, day: kept. A year and
one more number (`2024 5`, `2024/05`, `2024-5`) was read as that month, where an export writes a
quarter (a year column and a quarter column joined: `1959 1` .. `1959 4`) or a week so too: a
time split then ordered a table's quarters as January to April. Refused, naming the column, the
rows and the ISO 8601 form; ISO's own year and month, `2024-05`, is kept.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlapp.cell_times import COUNT_HINT
from mlapp.cells import parse_hint, parse_values
from mlapp.params import load_params
from mlapp.sample_data import generate
from tests.conftest import REPO
from tests.pipeline import refused

PARAMS = load_params(REPO / "params.yaml")
ROWS = 300
MONTH = "parse as datetime64[ns] (a year and one number: its month, quarter or week?"


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2024-05", "2024-05-01"),  # ISO 8601's year and month
        ("2024.05.01", "2024-05-01"),  # a full date year first: year, month, day whatever the mark
        ("2024/05/01", "2024-05-01"),
        ("2024 05 01", "2024-05-01"),
        ("2024-5-1", "2024-05-01"),
        ("2024", "2024-01-01"),
        ("2024 5", None),  # was May 2024: a quarter or a week is written so too
        ("2024 05", None),
        ("2024/05", None),
        ("2024/5", None),
        ("2024-5", None),
        (" 1959 1 ", None),
    ],
)
def test_a_year_and_one_number_is_read_only_as_iso_writes_it(value: str, read: str | None) -> None:
    parsed, bad = parse_values(pd.Series([value], dtype="str"), "datetime64[ns]", ".")
    assert bad.tolist() == [read is None]
    assert parsed.tolist() == [pd.Timestamp(read) if read else pd.NaT]
    if read is None:
        assert parse_hint("quarter", pd.Series([value], dtype="str"), "datetime64[ns]", ".").startswith(
            MONTH.removeprefix("parse as datetime64[ns]")
        )


def _problems(tmp_path: Path, times: list[str]) -> list[dict]:
    frame = generate(ROWS, 5)
    frame["event_time"] = times
    source = tmp_path / "raw.csv"
    frame.to_csv(source, index=False)
    return refused.problems(PARAMS, tmp_path, source)


def test_year_and_quarter_stop_validate_naming_column_rows_and_iso_form(tmp_path: Path) -> None:
    """statsmodels' macrodata writes a year and a quarter: joined, 1959 4 read as April 1959."""
    times = [f"{1959 + i // 4} {1 + i % 4}" for i in range(ROWS)]
    (problem,) = _problems(tmp_path, times)
    assert problem["column"] == "event_time" and problem["check"].startswith(MONTH), problem
    assert "2024-05" in problem["check"] and problem["count"] == ROWS
    assert problem["rows"][:3] == [0, 1, 2] and problem["values"][:2] == ["1959 1", "1959 2"]


def test_a_spreadsheet_serial_past_a_year_is_refused_as_a_count(tmp_path: Path) -> None:
    """A spreadsheet's day number of 4 digits (4500: 1912-04-27) is no year a time stamp holds:
    refused with the spreadsheet's count named, never read as the year 4500 or as 1912."""
    times = [f"20{10 + i % 15}-{1 + i % 12:02d}-01" for i in range(ROWS)]
    times[4] = "4500"
    (problem,) = _problems(tmp_path, times)
    assert problem["check"] == f"parse as datetime64[ns]{COUNT_HINT}" and problem["rows"] == [4]
