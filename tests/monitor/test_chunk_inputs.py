"""Hostile batches read ``monitor.chunk_rows`` rows at a time: the same error, word for word, as
the batch read in one chunk, whatever chunk holds the telling value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlapp.monitor.batch import InvalidBatch
from mlapp.stages.validate_rules import LEVELS_HINT
from tests.monitor.helpers import fresh, write_csv
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
