"""``mlapp template schema`` on a column of years alone mixed with full dates, and what it prints
after a column it leaves out.

A year column with a few full dates (1991, ..., 2020-03-04) was drafted as a whole number, its
dates as marks of a missing value to list in data.missing_values: each such row's date silently
lost. It is left out, naming the rows and both ways back. A column left out for its own cause
(free text, a date) was followed by a warning about the words data.missing_values read as
missing in it, which change nothing there: only the cause is said.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from mlapp import schema_draft
from mlapp.cli import cli
from tests.conftest import REPO

ROWS = 200


def test_full_dates_among_years_are_named_with_their_rows_not_drafted_as_missing() -> None:
    built = pd.Series([str(1990 + i % 30) if i % 40 else "2020-03-04" for i in range(ROWS)], dtype=object)
    drafted = schema_draft.feature("built", built, ".")
    assert (drafted.call, drafted.placeholders) == ("", ())
    assert drafted.skip.startswith(
        "years alone (1991) among full dates (2020-03-04), the dates at rows 0, 40, 80, 120, 160 (0-based, "
        "as validate counts): write each row's full date in the export, then derive numbers from it"
    ), drafted.skip
    assert drafted.skip.endswith(
        "or the year alone in every row; or list it in data.ignore_columns (params.yaml)"
    )


def test_years_among_full_dates_are_the_rows_named_when_fewer() -> None:
    signup = pd.Series(
        ["2018" if i % 3 == 0 else f"2019-05-{i % 28 + 1:02d}" for i in range(ROWS)], dtype=object
    )
    drafted = schema_draft.feature("signup", signup, ".")
    assert drafted.skip.startswith(
        "years alone (2018) among full dates (2019-05-02), the years at rows 0, 3, 6,"
    )


def test_years_alone_and_full_dates_alone_draft_as_before() -> None:
    years = schema_draft.feature(
        "built", pd.Series([str(1990 + i % 30) for i in range(ROWS)], dtype=object), "."
    )
    assert years.call == "_number(int, 0, 5000"
    dates = schema_draft.feature("on", pd.Series([f"2020-03-{i % 28 + 1:02d}" for i in range(ROWS)]), ".")
    assert dates.skip.startswith("a date: derive numbers from it in the file")


def test_a_column_left_out_is_said_by_its_cause_only(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "note": [f"text {i}" if i % 10 else "NA" for i in range(ROWS)],
            "region": ["NA" if i % 2 else "EU" for i in range(ROWS)],
            "age": [str(18 + i % 50) for i in range(ROWS)],
            "churned": [str(i % 2) for i in range(ROWS)],
        }
    )
    (source := tmp_path / "t.csv").write_text(frame.to_csv(index=False))
    params = tmp_path / "params.yaml"
    params.write_text(
        (REPO / "params.yaml")
        .read_text()
        .replace("id_column: customer_id", "id_column: null")
        .replace("time_column: event_time", "time_column: null")
    )
    result = CliRunner().invoke(cli, ["--params", str(params), "template", "schema", str(source)])
    assert result.exit_code == 0, result.output
    assert "left out 'note': free text" in result.stderr
    assert "'note': 'NA'" not in result.stderr  # left out: its words read as missing change nothing
    assert "warning: 'region': 'NA' in 100 rows read as missing" in result.stderr  # drafted: they do
