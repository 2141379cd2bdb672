"""A batch of repeated rows (a health check, a stuck upstream, a replayed log) is refused, saying
what repeats, rather than read as drift; a batch repeating no more than the reference does is not."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlapp.model import load
from mlapp.monitor import run
from mlapp.monitor.batch import InvalidBatch
from mlapp.monitor.repeats import Repeats
from mlapp.params import load_params
from tests.monitor.helpers import LABEL, fresh, write_csv, write_log

REPORT = "repeats.json"


def _refused(project: Path, source: Path, tmp_path: Path) -> tuple[str, dict[str, object]]:
    """The error a run stops with, and the problem of the repeated rows in its report."""
    params = load_params(project / "params.yaml")
    json_path = tmp_path / REPORT
    with pytest.raises(InvalidBatch) as caught:
        run.main(
            params,
            source=str(source),
            json_path=json_path,
            markdown_path=tmp_path / "repeats.md",
            model_dir=params.train.model_dir,
        )
    report = json.loads(json_path.read_text())
    assert report["status"] == "invalid" and report["retrain"] is False
    (repeats,) = [p for p in report["problems"] if p["column"] == "<table>"]
    return str(caught.value), repeats


def test_a_constant_batch_is_one_record_repeated_not_drift(in_project: Path, tmp_path: Path) -> None:
    """A client sending one record again and again: every feature 'drifted' and the run said retrain."""
    one = fresh(111, 1)
    batch = pd.concat([one] * 400, ignore_index=True).drop(columns=["customer_id"])
    message, repeats = _refused(in_project, write_csv(batch, tmp_path / "constant.csv"), tmp_path)
    assert repeats["values"] == ["400 of 400 rows are one record (first at row 0)"]
    assert repeats["count"] == 399 and repeats["rows"] == [1, 2, 3, 4, 5]
    assert "monitor.repeated_share" in message and "health check" in message


def test_health_checks_among_served_rows_are_named(in_project: Path, tmp_path: Path) -> None:
    """A log of 1,500 served rows with 300 health checks first: refused, the record and its count named."""
    served = fresh(112)
    checks = pd.concat([fresh(113, 1)] * 300, ignore_index=True)
    frame = pd.concat([checks, served], ignore_index=True)
    frame["customer_id"] = [f"req-{i}" for i in range(len(frame))]  # the service's ids: one a line
    version = load(load_params(in_project / "params.yaml").train.model_dir).version
    log = write_log(frame, tmp_path / "log.jsonl", model_version=version)
    _, repeats = _refused(in_project, log, tmp_path)
    assert repeats["values"] == ["300 of 1800 rows are one record (first at row 0)"]
    assert repeats["count"] == 299


def test_a_log_concatenated_with_itself_names_the_replayed_rows(in_project: Path, tmp_path: Path) -> None:
    """No id column to repeat: the same 1,500 rows twice read as the same distribution, exit 0."""
    batch = fresh(114).drop(columns=["customer_id"])
    twice = pd.concat([batch, batch], ignore_index=True)
    _, repeats = _refused(in_project, write_csv(twice, tmp_path / "twice.csv"), tmp_path)
    assert repeats["values"] == ["rows 1500-2999 repeat rows 0-1499"]
    assert repeats["count"] == 1500 and repeats["rows"][0] == 1500


def test_a_fresh_batch_with_a_few_repeats_is_compared(in_project: Path, tmp_path: Path) -> None:
    """Repeats up to monitor.repeated_share over the reference's share are no reason to refuse."""
    batch = fresh(115)
    batch = pd.concat([batch, batch.iloc[:100]], ignore_index=True)  # 100 of 1,600 rows: 6.25%
    batch["customer_id"] = [f"N-{i}" for i in range(len(batch))]
    params = load_params(in_project / "params.yaml")
    assert params.monitor.repeated_share > 100 / 1600
    json_path = tmp_path / REPORT
    code = run.main(
        params,
        source=str(write_csv(batch, tmp_path / "few.csv")),
        json_path=json_path,
        markdown_path=tmp_path / "few.md",
        model_dir=params.train.model_dir,
    )
    assert code == run.NO_ACTION
    assert json.loads(json_path.read_text())["rows"] == 1600


def _repeats(frame: pd.DataFrame, chunk: int) -> Repeats:
    found = Repeats()
    for start in range(0, len(frame), chunk):
        found.add(frame.iloc[start : start + chunk])
    return found


def test_repeats_are_the_whole_batchs_whatever_the_chunks() -> None:
    """Rows 20-29 repeat rows 0-9 and row 3 five times more at 30-34: the same problem in chunks of 7."""
    rows = fresh(116, 20).drop(columns=["customer_id", "event_time", LABEL])
    frame = pd.concat([rows.iloc[:20], rows.iloc[:10], pd.concat([rows.iloc[[3]]] * 5)], ignore_index=True)
    whole = _repeats(frame, len(frame)).problem(0.0, 0.1, 5)
    assert whole is not None
    assert whole == _repeats(frame, 7).problem(0.0, 0.1, 5)
    assert whole.values == ["7 of 35 rows are one record (first at row 3)", "rows 20-29 repeat rows 0-9"]
    assert whole.count == 15


def test_only_repeats_beyond_the_references_share_count() -> None:
    """A table of few categorical features repeats rows by nature: its reference does too."""
    rows = fresh(117, 10).drop(columns=["customer_id", "event_time", LABEL])
    frame = pd.concat([rows] * 3, ignore_index=True)  # 20 of 30 rows repeat: 67%
    found = _repeats(frame, 30)
    assert found.share() == pytest.approx(2 / 3)
    assert found.problem(0.6, 0.1, 5) is None
    assert found.problem(0.5, 0.1, 5) is not None
