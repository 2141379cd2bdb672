"""A prediction log read by what it says, not how it is spelt: one instant in two UTC offsets is one
time; a key written twice in a line is refused by its line, never one of its values kept; a batch's
many unknown columns are named a few, with their count, on a line a reader can read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlapp.monitor.batch import read_batch
from tests.monitor.helpers import fresh, write_csv, write_log
from tests.monitor.test_chunk_inputs import _errors
from tests.monitor.test_chunks import WHOLE, _params
from tests.monitor.test_log_own_fields import Edit, _log

TS = "2026-01-02T00:30:00Z"


def _set(own: dict[str, object], features: dict[str, object]) -> Edit:
    """An edit for ``_log``: the record's own fields and features set as given."""

    def edit(record: dict[str, Any]) -> None:
        record.update(own)
        record["features"].update(features)

    return edit


@pytest.mark.parametrize(
    "spelt",
    [
        "2026-01-02T00:30:00+00:00",
        "2026-01-02T00:30:00+0000",
        "2026-01-02T01:30:00+01:00",
        "2026-01-02T00:30:00.000Z",
    ],
)
def test_the_same_instant_in_features_spelt_otherwise_than_the_record_s_ts_is_read(
    spelt: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """'…Z' and '…+00:00' were two values (compared as text): the log refused as a clash."""
    source = _log(tmp_path, {3: _set({"ts": TS}, {"event_time": spelt})})
    batch = read_batch(str(source), _params(in_project, WHOLE))
    assert str(batch.frame["event_time"].iloc[3]) == "2026-01-02 00:30:00"


@pytest.mark.slow
@pytest.mark.parametrize(
    "other",
    ["2026-01-02T00:30:01Z", "2026-01-02T00:30:00+01:00", "2026-01-02T00:30:00", "not a time"],
    ids=["a second later", "another zone's wall clock", "no offset: which zone?", "no time"],
)
def test_a_different_instant_in_features_is_still_refused(
    other: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    source = _log(tmp_path, {3: _set({"ts": TS}, {"event_time": other})})
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "column 'event_time' failed one value a record: 'features' holds 'event_time'" in whole
    assert "at rows [3]" in whole


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"id": "a", "id": "b", "ts": "2026-01-02T00:00:00Z", "features": {}}', "id"),
        ('{"id": "a", "features": {"tenure_months": 3, "tenure_months": 30}}', "tenure_months"),
    ],
    ids=["the record's", "a feature"],
)
def test_a_key_written_twice_is_refused_by_its_line_naming_the_key(
    line: str,
    key: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Python's JSON reader kept the last of the two values without a word."""
    source = write_log(fresh(234, 300), tmp_path / "twice.jsonl", model_version="x")
    lines = source.read_text().splitlines()
    lines[180] = line
    source.write_text("\n".join(lines) + "\n")
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert f"'<line 181>' failed an object with each key once ({key!r} is written twice)" in whole


@pytest.mark.parametrize(("inside", "own"), [(7, 7.0), (1, True)], ids=["7 and 7.0", "1 and true"])
def test_an_id_in_features_equal_in_python_but_not_alike_is_still_refused(
    inside: object,
    own: object,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Two ids in a CSV: comparing instants must not make them one value."""
    source = _log(tmp_path, {3: _set({"id": own}, {"customer_id": inside})})
    whole, _ = _errors(in_project, source, tmp_path)
    assert "column 'customer_id' failed one value a record: 'features' holds 'customer_id'" in whole


def test_hundreds_of_unknown_columns_are_named_a_few_with_their_count(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Every one of 200 extra names was listed, on one line of some 3,000 characters."""
    frame = fresh(235, 300)
    extra = {f"extra_{i:03d}": 1 for i in range(200)}
    source = write_csv(
        pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1), tmp_path / "wide.csv"
    )
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    line = next(line for line in whole.splitlines() if "every column is a feature" in line)
    assert "200 value(s), e.g. ['extra_000', 'extra_001'," in line
    assert "'extra_009'" in line and "'extra_010'" not in line
    assert len(line) < 800
