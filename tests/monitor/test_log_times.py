"""A prediction log read as a CSV is: `ts` by the same zone rule, a line no record by its number."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.monitor.helpers import fresh, write_csv, write_log
from tests.monitor.test_chunk_inputs import _errors, _outcome
from tests.monitor.test_chunks import CHUNK, WHOLE


def _stamps(frame: pd.DataFrame) -> list[str]:
    """Every third stamp without its UTC offset, the others in two zones."""
    text = frame["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return [t + ("Z", "", "+05:30")[i % 3] for i, t in enumerate(text)]


def test_a_log_with_and_without_utc_offsets_is_refused_as_a_csv_is(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """A stamp without an offset was taken as UTC in a log, and the same stamps in a CSV were
    refused as ambiguous (local time, or UTC?): now both name the fewer kind's rows."""
    frame = fresh(231, 300)
    stamps = _stamps(frame)
    source = write_log(frame, tmp_path / "zones.jsonl", model_version="x")
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for record, stamp in zip(records, stamps, strict=True):
        record["ts"] = stamp
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    rule = (
        "parse as datetime64[ns] (ISO 8601, with a UTC offset on every value or none: these have no UTC "
        "offset, the column's other values one; write every value with its offset, Z for UTC "
        "(2024-01-03T10:00:00Z), or none, in the export)"
    )
    assert (
        f"column 'event_time' failed {rule}: 100 value(s)" in whole and "at rows [1, 4, 7, 10, 13]" in whole
    )
    as_csv = write_csv(frame.assign(event_time=stamps), tmp_path / "zones.csv")
    code, from_csv = _outcome(in_project, as_csv, tmp_path, WHOLE)  # in chunks: test_chunk_inputs
    assert code == 2 and whole.partition("\n")[2] == str(from_csv).partition("\n")[2]


def test_a_log_whose_every_stamp_has_an_offset_is_read_in_utc(
    in_project: Path,
    tmp_path: Path,
) -> None:
    source = write_log(fresh(232, 300), tmp_path / "utc.jsonl", model_version="x")
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for record in records[::2]:
        record["ts"] = record["ts"].replace("Z", "+02:00")
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert _outcome(in_project, source, tmp_path, CHUNK)[0] != 2


def test_a_log_line_nested_thousands_deep_is_refused_by_its_number(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Python's JSON reader raised RecursionError on it: a traceback, not the line named."""
    source = write_log(fresh(233, 300), tmp_path / "deep.jsonl", model_version="x")
    lines = source.read_text().splitlines()
    lines[120] = '{"features": ' + "[" * 100_000 + "]" * 100_000 + "}"
    source.write_text("\n".join(lines) + "\n")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "'<line 121>' failed valid JSON of a record's depth" in whole


def test_a_log_stamp_written_as_a_decimal_year_is_refused(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """A JSON number as `ts` (2024.5, a decimal year) was read as its year's 1 January among
    stamps without an offset: now named with its rows, as the same value in a CSV is."""
    source = write_log(fresh(233, 300), tmp_path / "years.jsonl", model_version="x")
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for row, record in enumerate(records):
        record["ts"] = 2024.5 if row in (5, 9) else record["ts"].removesuffix("Z")
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "column 'event_time' failed parse as datetime64[ns] (decimal years? 2024.5 is mid-2024" in whole
    assert "2 value(s), e.g. [2024.5] at rows [5, 9]" in whole, whole
