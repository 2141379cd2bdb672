"""Rows dated after the run (a node's clock ahead, a unit error) are named, and still compared."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlapp.model import load
from mlapp.monitor import run
from mlapp.monitor.future import FutureTimes
from mlapp.monitor.render import markdown
from mlapp.params import load_params
from tests.monitor.helpers import fresh, write_csv, write_log


def _run(project: Path, source: Path, tmp_path: Path) -> tuple[int, dict[str, object]]:
    params = load_params(project / "params.yaml")
    json_path = tmp_path / "future.json"
    code = run.main(
        params,
        source=str(source),
        json_path=json_path,
        markdown_path=tmp_path / "future.md",
        model_dir=params.train.model_dir,
    )
    return code, json.loads(json_path.read_text())


def test_a_log_with_rows_dated_ahead_names_them(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A node whose clock runs 2 h ahead wrote rows 3, 4 and 10; row 900 says 2096."""
    frame = fresh(121)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    frame.loc[[3, 4, 10], "event_time"] = now + pd.Timedelta(hours=2)
    frame.loc[900, "event_time"] = pd.Timestamp("2096-07-01")
    frame.loc[11, "event_time"] = now + pd.Timedelta(seconds=60)  # clock drift: under future_slack_s
    version = load(load_params(in_project / "params.yaml").train.model_dir).version
    code, report = _run(in_project, write_log(frame, tmp_path / "log.jsonl", model_version=version), tmp_path)
    assert code == run.NO_ACTION and report["rows"] == len(frame)  # compared, every row
    future = report["future"]
    assert future["column"] == "event_time"
    assert future["rows"] == 4 and future["first_rows"] == [3, 4, 10, 900]
    assert future["latest"] == "2096-07-01T00:00:00+00:00"
    assert future["most_ahead_s"] > 60 * 365 * 86400
    line = capsys.readouterr().out
    assert "4 row(s) dated after this run" in line and "first rows [3, 4, 10, 900]" in line
    assert "4 row(s) dated after this run" in (tmp_path / "future.md").read_text()


def test_a_batch_dated_in_the_past_says_none(in_project: Path, tmp_path: Path) -> None:
    _, report = _run(in_project, write_csv(fresh(122), tmp_path / "past.csv"), tmp_path)
    assert report["future"] == {
        "column": "event_time",
        "rows": 0,
        "first_rows": [],
        "latest": None,
        "most_ahead_s": None,
    }
    assert "after this run" not in markdown(report)


def test_future_rows_are_the_whole_batchs_whatever_the_chunks() -> None:
    """Times without an offset are UTC; with one, the instant counts (an hour ahead at +01:00 is now)."""
    now = pd.Timestamp("2026-12-05T12:00:00", tz="UTC")
    naive = pd.DataFrame({"t": pd.to_datetime(["2026-12-05T11:00", "2026-12-05T13:00"] * 5)})
    aware = pd.DataFrame({"t": pd.to_datetime(["2026-12-05T13:00+01:00", "2026-12-05T14:00+01:00"])})

    def found(frame: pd.DataFrame, chunk: int) -> dict[str, object] | None:
        future = FutureTimes("t", now, 300, 3)
        for start in range(0, len(frame), chunk):
            future.add(frame.iloc[start : start + chunk])
        return future.found()

    assert found(naive, 3) == found(naive, 10)
    assert found(naive, 3) == {
        "column": "t",
        "rows": 5,
        "first_rows": [1, 3, 5],
        "latest": "2026-12-05T13:00:00+00:00",
        "most_ahead_s": 3600.0,
    }
    assert found(aware, 1)["rows"] == 1  # type: ignore[index]
    assert FutureTimes(None, now, 300, 3).found() is None  # no event-time column
