"""Hostile batches read ``monitor.chunk_rows`` rows at a time: the same error, word for word, as
the batch read in one chunk, whatever chunk holds the telling value."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlapp.monitor.batch import InvalidBatch
from mlapp.stages.validate_rules import LEVELS_HINT
from tests.monitor.helpers import fresh, write_csv, write_log
from tests.monitor.test_chunks import WHOLE, _monitor, in_project  # noqa: F401

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
    in_project: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    source = write_csv(_tenure(cells), tmp_path / "hostile.csv")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert hint in whole if hint else LEVELS_HINT not in whole


def test_a_logs_ids_are_as_logged_whatever_the_chunk_7_and_7_0_two_ids_as_in_a_csv(
    in_project: Path,  # noqa: F811
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
