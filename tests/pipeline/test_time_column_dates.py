"""Dates in the event-time column written otherwise than ISO 8601, and years alone among full dates.

validate reads ISO 8601 only, and no data.* setting reads another form: "March 4, 2020",
"04-Mar-2020" and "4/3/2020" got the rule alone; each is now said with what the value is in ISO
8601, both dates when the order of day and month (or a 2-digit year's century) is the export's
to say. A year alone (2019) among full dates was read as its 1 January, before every date of its
year whatever its row's day: refused, naming those rows. Mixed UTC offsets (+0100, +0200) are
one instant each, read as UTC.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlapp.cell_times import YEARS_HINT
from mlapp.cells import parse_hint, parse_values
from mlapp.params import load_params
from mlapp.sample_data import generate
from tests.conftest import REPO
from tests.pipeline import refused

PARAMS = load_params(REPO / "params.yaml")
ROWS = 300
NOT_ISO = (
    "parse as datetime64[ns] (not ISO 8601, the one form validate reads, and no data.* setting reads "
    "another: "
)


def _problems(tmp_path: Path, times: list[str]) -> list[dict]:
    frame = generate(ROWS, 5)
    frame["event_time"] = times
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    return refused.problems(PARAMS, tmp_path, source)


def test_years_alone_among_full_dates_stop_validate_naming_their_rows(tmp_path: Path) -> None:
    times = [f"2020-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 50 else "2020" for i in range(ROWS)]
    (problem,) = _problems(tmp_path, times)
    assert problem["column"] == "event_time" and problem["check"] == f"parse as datetime64[ns]{YEARS_HINT}"
    assert problem["rows"] == [0, 50, 100, 150, 200] and problem["count"] == 6


def test_years_alone_are_still_read_as_years() -> None:
    parsed, bad = parse_values(pd.Series(["2019", "2020"], dtype=object), "datetime64[ns]", ".")
    assert not bad.any() and parsed.tolist() == [pd.Timestamp("2019-01-01"), pd.Timestamp("2020-01-01")]


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (["March 4, 2020", "March 5, 2020"], "'March 4, 2020' in ISO 8601 is 2020-03-04;"),
        (["04-Mar-2020", "05-Mar-2020"], "'04-Mar-2020' in ISO 8601 is 2020-03-04;"),
        (["Mar 4 2020 10:30", "Mar 5 2020 11:00"], "'Mar 4 2020 10:30' in ISO 8601 is 2020-03-04T10:30:00;"),
        (
            ["4/3/2020", "5/3/2020"],
            "'4/3/2020' in ISO 8601 is 2020-04-03 or 2020-03-04 (month or day first: the export knows "
            "which);",
        ),
        (["25/3/2020", "4/3/2020"], "'25/3/2020' in ISO 8601 is 2020-03-25;"),
        (
            ["12/31/99"],
            "'12/31/99' in ISO 8601 is 1999-12-31 or 2099-12-31 (its century is the export's to say);",
        ),
    ],
)
def test_a_date_in_another_form_is_said_in_iso_8601(values: list[str], said: str) -> None:
    series = pd.Series(values, dtype=object)
    bad = parse_values(series, "datetime64[ns]", ".")[1]
    assert bad.all()
    hint = parse_hint("event_time", series[bad], "datetime64[ns]", ".")
    assert f"parse as datetime64[ns]{hint}" == f"{NOT_ISO}{said} write every value so in the export)"


def test_validate_says_a_day_first_date_with_both_readings(tmp_path: Path) -> None:
    times = [f"{1 + i % 28}/{1 + i % 12}/2020" for i in range(ROWS)]
    (problem,) = _problems(tmp_path, times)
    assert problem["check"].startswith(f"{NOT_ISO}'1/1/2020' in ISO 8601 is 2020-01-01;"), problem
    assert problem["count"] == ROWS and problem["rows"][:2] == [0, 1]


def test_mixed_utc_offsets_are_each_one_instant() -> None:
    series = pd.Series(["2020-03-04T10:00:00+0100", "2020-03-04T10:00:00+0200"], dtype=object)
    parsed, bad = parse_values(series, "datetime64[ns]", ".")
    assert not bad.any() and parsed.tolist() == [
        pd.Timestamp("2020-03-04 09:00"),
        pd.Timestamp("2020-03-04 08:00"),
    ]
