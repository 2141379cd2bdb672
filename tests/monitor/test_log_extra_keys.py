"""A prediction log whose records bring a new key each (an id written as a key) is refused naming
those keys and rows, its chunks holding the schema's columns and at most ``EXTRA_KEYS`` more:
each key had been a column of every chunk, memory growing with rows x keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlapp.monitor.checks import batch_schema
from mlapp.monitor.logs import EXTRA_KEYS, EXTRA_RULE, Log, log_chunks
from tests.monitor.test_chunk_inputs import _errors
from tests.monitor.test_chunks import _params
from tests.monitor.test_log_own_fields import _log


def _keyed(tmp_path: Path, keys: dict[int, list[str]]) -> Path:
    def add(names: list[str]) -> Any:
        return lambda record: record["features"].update(dict.fromkeys(names, 1))

    return _log(tmp_path, {row: add(names) for row, names in keys.items()})


def test_a_new_key_in_every_record_is_refused_and_bounded(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """300 records of a key each were 300 columns in every chunk (1.7 GB at 6,000 records)."""
    source = _keyed(tmp_path, {row: [f"trace_{row}"] for row in range(300)})
    params = _params(in_project, 50)
    schema = batch_schema(params)
    log = Log(params.validate_.max_failure_examples)
    with source.open() as lines:
        widths = {len(frame.columns) for frame, _ in log_chunks(lines, params, 50, log, schema.columns)}
    assert max(widths) <= len(schema.columns) + EXTRA_KEYS < 300  # not a column per record
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert f"column '<features>' failed {EXTRA_RULE}: 200 value(s)" in whole
    assert "e.g. ['trace_100', 'trace_101', 'trace_102', 'trace_103', 'trace_104'] at rows [100, 101" in whole


def test_a_few_unknown_keys_are_still_named_as_columns(
    in_project: Path,
    tmp_path: Path,
) -> None:
    source = _keyed(tmp_path, {row: ["extra_a", "extra_b"] for row in range(300)})
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert "<features>" not in whole
    assert "every column is a feature" in whole and "'extra_a'" in whole and "'extra_b'" in whole
