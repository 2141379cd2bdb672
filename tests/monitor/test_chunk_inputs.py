"""Hostile batches read ``monitor.chunk_rows`` rows at a time: the same error, word for word, as
the batch read in one chunk, whatever chunk holds the telling value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest

from mlapp.monitor.batch import InvalidBatch, read_batch
from mlapp.stages.validate_rules import LEVELS_HINT
from tests.monitor.helpers import fresh, write_csv, write_log
from tests.monitor.test_chunks import WHOLE, _monitor, _params

CHUNK = 50


def _errors(project: Path, source: Path, out: Path) -> tuple[str, str]:
    said = []
    for rows in (WHOLE, CHUNK):
        with pytest.raises(InvalidBatch) as caught:
            _monitor(project, source, out, rows)
        said.append(str(caught.value))
    return said[0], said[1]


def _tenure(cells: dict[int, str]) -> pd.DataFrame:
    frame = fresh(201, 300).astype({"tenure_months": object})
    frame.loc[list(cells), "tenure_months"] = list(cells.values())
    return frame


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cells", "hint"),
    [
        ({120: "abc", 220: "?"}, "'?' names no value"),  # the telling value in a later chunk
        ({60: "abc", 160: "1e400"}, "past int64"),
        ({row: "xy"[row % 2] for row in range(50, 100)}, None),  # a whole chunk of text, not the whole column
    ],
)
def test_a_parse_rules_hint_is_the_whole_columns_not_its_first_failing_chunks(
    cells: dict[int, str],
    hint: str | None,
    in_project: Path,
    tmp_path: Path,
) -> None:
    source = write_csv(_tenure(cells), tmp_path / "hostile.csv")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert hint in whole if hint else LEVELS_HINT not in whole


def test_a_logs_ids_are_as_logged_whatever_the_chunk_7_and_7_0_two_ids_as_in_a_csv(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """pandas typed a chunk's numeric ids as a whole: 7 with 7.0 (and 8.5) became '7.0' twice, a
    duplicate in one chunk and not across two; and every id of the batch turned '1000.0'."""
    source = write_log(fresh(202, 300), tmp_path / "ids.jsonl", model_version="x")
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for row, record in enumerate(records):
        record["id"] = {10: 7, 100: 7.0, 150: 8.5}.get(row, 1000 + row)
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    whole, chunked = (_monitor(in_project, source, tmp_path, rows) for rows in (WHOLE, CHUNK))
    assert chunked == whole
    assert whole[1]["status"] != "invalid"


def test_whole_number_ids_with_a_gap_in_parquet_are_one_id_in_every_chunk(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Another writer's int64 ids with a null: pandas read the chunk holding the null as float64,
    so id 7 was '7.0' there and '7' in a chunk without one (the whole batch: '7.0' twice, and
    read_batch's pandas reader too)."""
    frame = fresh(205, 300).assign(customer_id=pd.array(range(1000, 1300), dtype="Int64"))
    frame.loc[[10, 210], "customer_id"] = 7
    frame.loc[220, "customer_id"] = pd.NA
    table = arrow.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, source := tmp_path / "ids.parquet")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "values are unique: 2 value(s), e.g. ['7'] at rows [10, 210]" in whole
    with pytest.raises(InvalidBatch) as held:  # the batch held whole (read_source: retraining's rows)
        read_batch(str(source), _params(in_project, WHOLE))
    assert str(held.value) == whole


def _outcome(project: Path, source: Path, out: Path, rows: int) -> tuple[int, Any]:
    """The exit code and report of a run, or 2 and the error it raised."""
    try:
        return _monitor(project, source, out, rows)
    except InvalidBatch as exc:
        return 2, str(exc)


# Rows of a log of monitor.min_rows (200) rows without a key: the first chunk of 50, a middle
# one, the last, every row. Each case reads the log whole and in 4 chunks.
KEY_ROWS = 200
WHERE = {"first": range(0, 50), "middle": range(100, 150), "last": range(150, 200), "every": range(KEY_ROWS)}


@pytest.mark.slow
@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize(
    "key",
    ["satisfaction_score", "tenure_months", "id", "ts", "referrer"],  # nullable, not, id, time, unknown
)
def test_a_log_key_absent_from_whole_chunks_reads_as_in_the_whole_log(
    key: str,
    where: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """A chunk whose records lack a key had no such column: a feature's was a missing column
    (exit 2) where the whole log has missing values there (valid for a nullable feature). A key
    absent from every record is a missing column either way; an unknown key is named whatever
    chunk holds it."""
    source = write_log(fresh(203, KEY_ROWS), tmp_path / "keys.jsonl", model_version="x")
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for row, record in enumerate(records):
        inner = record["features"] if key in record["features"] or key == "referrer" else record
        if key == "referrer":  # present but in those rows, and another unknown key in row 0 only
            inner.update({key: "ads"} if row not in WHERE[where] else {})
            inner.update({"channel": "email"} if row == 0 else {})
        elif row in WHERE[where]:
            del inner[key]
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    whole = _outcome(in_project, source, tmp_path, WHOLE)
    assert _outcome(in_project, source, tmp_path, CHUNK) == whole
    if key == "satisfaction_score" and where != "every":
        assert whole[0] != 2  # missing values of a nullable feature
    if key in ("satisfaction_score", "tenure_months") and where == "every":
        assert f"required column is present: 1 value(s), e.g. ['{key}']" in whole[1]
    if key == "referrer":
        named = whole[1].partition("data.ignore_columns (params.yaml): ")[2]
        assert named.startswith("1 value(s)" if where == "every" else "2 value(s)")


def _times(zoned: list[int], stamps: dict[int, str] | None = None) -> pd.DataFrame:
    frame = fresh(204, 300)
    text = frame["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    text[zoned] = text[zoned] + "+02:00"
    for row, stamp in (stamps or {}).items():
        text[row] = stamp
    return frame.assign(event_time=text)


@pytest.mark.parametrize(
    ("zoned", "stamps", "count"),
    [
        (list(range(50)), None, 50),  # one whole chunk with offsets, the rest without
        (list(range(200)), None, 100),  # the offsets are the most: those without fail
        (list(range(30)), None, 30),  # within a chunk the more, over the batch the fewer
        (list(range(30)) + list(range(200, 220)), {10: "soon", 240: "9999-12-31T00:00:00"}, 51),
    ],
)
def test_event_times_with_an_offset_on_some_rows_fail_the_same_rows_in_chunks(
    zoned: list[int],
    stamps: dict[int, str] | None,
    count: int,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Some stamps with a UTC offset and some without: the fewer kind fails, counted over the
    whole batch, not per chunk (where a chunk of one kind passed, and a chunk's fewer differ)."""
    source = write_csv(_times(zoned, stamps), tmp_path / "times.csv")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "column 'event_time' failed parse as datetime64[ns]" in whole
    assert f": {count} value(s)" in whole.split("column 'event_time'")[1]


def test_missing_ids_are_named_missing_not_repeated(in_project: Path, tmp_path: Path) -> None:
    """Blank ids in different chunks are one problem, "no missing values": a missing id repeats
    nothing (it read as the id 'nan', three times). A real repeat across chunks is still named."""
    frame = fresh(203, 300).astype({"customer_id": object})
    frame.loc[[3, 120, 250], "customer_id"] = None
    frame.loc[260, "customer_id"] = frame.loc[9, "customer_id"]
    whole, chunked = _errors(in_project, write_csv(frame, tmp_path / "ids.csv"), tmp_path)
    assert chunked == whole
    assert "no missing values: 3 value(s), e.g. [None] at rows [3, 120, 250]" in whole
    assert "values are unique: 2 value(s)" in whole and "rows [9, 260]" in whole


WRONG = pd.DataFrame({"foo": [], "bar": []}, dtype=str)
ZERO_ROWS = {"its columns": fresh(204, 1).head(0), "wrong columns": WRONG}


@pytest.mark.parametrize("frame", ZERO_ROWS.values(), ids=ZERO_ROWS.keys())
def test_a_parquet_batch_without_rows_is_refused_as_the_same_csv(
    in_project: Path,
    tmp_path: Path,
    frame: pd.DataFrame,
) -> None:
    """No rows: its columns still checked (wrong ones named), in one chunk or many, as a header alone."""
    frame.to_parquet(source := tmp_path / "none.parquet", index=False)
    whole, chunked = _errors(in_project, source, tmp_path)
    from_csv, _ = _errors(in_project, write_csv(frame, tmp_path / "none.csv", labels=True), tmp_path)
    assert chunked == whole == from_csv.replace("none.csv", "none.parquet")
    assert "(0 rows)" in whole and ("'foo', 'bar'" in whole) == ("foo" in frame.columns)


def test_a_log_integer_no_float_holds_is_refused_as_too_large_not_a_traceback(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """JSON integers past float's range (10**400; 5,000 digits, past what Python reads) in a
    feature and in the logged score: pandas raised OverflowError (a traceback, exit 2 without a
    word of which column), and the long one was one line naming neither line nor column."""
    source = write_log(fresh(205, 300), tmp_path / "huge.jsonl", model_version="x")
    lines = source.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for row, digits in ((60, 400), (160, 5000)):
        records[row]["features"]["tenure_months"] = f"@{digits}"
    records[200]["probability"] = "@400"
    text = "".join(json.dumps(record) + "\n" for record in records)
    for digits in (400, 5000):  # written by hand: json.dumps itself refuses 5,000 digits
        text = text.replace(f'"@{digits}"', "1" + "0" * digits)
    source.write_text(text)
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "column 'tenure_months' failed parse as int64 (past int64" in whole
    assert "2 value(s)" in whole and "at rows [60, 160]" in whole


def test_a_log_with_a_bom_reads_as_the_same_log_without(in_project: Path, tmp_path: Path) -> None:
    """Notepad and PowerShell start UTF-8 with a BOM: a CSV read past it, a log refused line 1."""
    plain = write_log(fresh(206, 300), tmp_path / "plain.jsonl", model_version="x")
    marked = tmp_path / "marked.jsonl"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    for rows in (WHOLE, CHUNK):
        (code, said), (plain_code, plain_said) = (
            _monitor(in_project, s, tmp_path, rows) for s in (marked, plain)
        )
        assert said["status"] != "invalid"
        assert (code, {**said, "source": ""}) == (plain_code, {**plain_said, "source": ""})


def test_a_log_of_many_lines_not_records_says_how_many(in_project: Path, tmp_path: Path) -> None:
    """Every line a JSON array: the first lines are named and the rest counted (it said '5 problem(s)')."""
    source = tmp_path / "arrays.jsonl"
    source.write_text("[1, 2]\n" * 300)
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "column '<line 1>' failed an object with a 'features' object" in whole
    assert "the file failed one record a line: 295 more line(s) are not (the first 5 named above)" in whole
