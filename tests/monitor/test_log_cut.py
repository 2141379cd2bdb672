"""A prediction log whose last record was written only in part (a worker killed mid-write with no
writer after it, a file copied while being written) is read without that line, which the report
names; any other line that is no JSON still refuses the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlapp.monitor import run
from mlapp.monitor.batch import InvalidBatch, read_batch
from tests.monitor.test_chunk_inputs import _errors
from tests.monitor.test_chunks import CHUNK, WHOLE, _monitor, _params
from tests.monitor.test_log_own_fields import _log


def _cut(tmp_path: Path, tail: str) -> Path:
    """The 300-record log with ``tail`` appended after its last newline."""
    source = _log(tmp_path, {})
    with source.open("a") as handle:
        handle.write(tail)
    return source


def _half_record(source: Path) -> str:
    first = source.read_text().splitlines()[0]
    return first[: len(first) // 2]


def test_a_last_line_cut_mid_write_is_left_out_and_named(
    in_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The half record refused all 300 whole ones: 'line 301 failed valid JSON', exit 2."""
    whole_log = _log(tmp_path, {})
    _, expected = _monitor(in_project, whole_log, tmp_path, WHOLE)
    source = _cut(tmp_path, _half_record(whole_log))
    results = [_monitor(in_project, source, tmp_path, rows) for rows in (WHOLE, CHUNK)]
    assert results[0] == results[1]
    code, report = results[0]
    assert code == run.NO_ACTION and report["rows"] == 300
    assert report["served"]["cut_line"] == 301
    assert {**report, "served": None} == {**expected, "served": None}  # the 300 records' numbers
    said = "line 301, the last, was cut short mid-write (no newline, not JSON) and is left out"
    assert said in capsys.readouterr().out
    assert said in (tmp_path / f"{source.name}-{WHOLE}.md").read_text()
    assert read_batch(str(source), _params(in_project, WHOLE)).served.cut_line == 301  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tail", "line"),
    [
        ('{"id": "cut", "features": {"ag\n', "301"),  # a newline after it: written whole, wrongly
        ("]", "301"),  # no record's start: a file of another kind
        ('{"id": "cut", "features": {"ag\n{"id": "x"}\n', "301"),  # not the last line
    ],
    ids=["ends its line", "no record's start", "not the last"],
)
def test_a_line_that_is_no_json_otherwise_still_refuses_the_log(
    tail: str,
    line: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    whole, chunked = _errors(in_project, _cut(tmp_path, tail), tmp_path)
    assert chunked == whole
    assert f"column '<line {line}>' failed valid JSON" in whole


def test_a_log_held_whole_splits_at_line_ends_only(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """U+2028 may stand unescaped in a JSON text (orjson writes it so); str.splitlines split the
    record there, and read_batch (the retraining refresh's reader) refused both halves."""
    source = _log(tmp_path, {})
    records = [json.loads(line) for line in source.read_text().splitlines()]
    records[7]["model_version"] = "build\u2028a"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    batch = read_batch(str(source), _params(in_project, WHOLE))
    assert len(batch.frame) == 300
    assert batch.served is not None and batch.served.model_versions == {"build\u2028a": 1, "x": 299}


def test_a_log_of_one_cut_line_is_named_by_it(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Nothing else to read: "line 1 failed valid JSON" says more than "0 rows"."""
    source = tmp_path / "cut.jsonl"
    source.write_text('{"id": "a", "features": {"age"')
    with pytest.raises(InvalidBatch, match=r"'<line 1>' failed valid JSON"):
        _monitor(in_project, source, tmp_path, WHOLE)
