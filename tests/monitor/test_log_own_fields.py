"""A log record's own fields (``id``, ``ts``, the ground truth beside ``features``) and a
``features`` object holding the same columns: a different id is refused by its rows, never one of
the two silently kept; the label column inside ``features`` is no ground truth, refused as well."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlapp.monitor.batch import read_batch
from mlapp.monitor.logs import LABEL_INSIDE
from tests.monitor.helpers import fresh, write_log
from tests.monitor.test_chunk_inputs import _errors
from tests.monitor.test_chunks import WHOLE, _params

Edit = Callable[[dict[str, Any]], None]


def _log(tmp_path: Path, edits: dict[int, Edit]) -> Path:
    """A 300-row labeled log with ``edits`` applied to some rows' records."""
    source = write_log(fresh(223, 300), tmp_path / "own.jsonl", model_version="x", labels=True)
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for row, edit in edits.items():
        edit(records[row])
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    return source


def _features(**values: Any) -> Edit:
    return lambda record: record["features"].update(values)


def test_an_id_in_features_other_than_the_record_s_is_refused_by_its_rows(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """The record's id silently replaced the features' customer_id: which one names the customer?"""
    source = _log(tmp_path, {3: _features(customer_id="C-3"), 260: _features(customer_id="C-260")})
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole  # rows 3 and 260 are in two chunks of 50
    rule = "one value a record: 'features' holds 'customer_id' and the record's id differs"
    assert f"column 'customer_id' failed {rule}" in whole
    assert "2 value(s), e.g. [\"'C-3' in features, 'N223-000003' as id\"" in whole
    assert "at rows [3, 260]" in whole


def test_an_id_in_features_that_is_the_record_s_or_its_only_one_is_read(
    in_project: Path,
    tmp_path: Path,
) -> None:
    def only_in_features(record: dict[str, Any]) -> None:
        record["features"]["customer_id"] = record.pop("id")

    same = _features(customer_id="N223-000004")
    batch = read_batch(str(_log(tmp_path, {4: same, 5: only_in_features})), _params(in_project, WHOLE))
    assert batch.frame["customer_id"].iloc[4:6].tolist() == ["N223-000004", "N223-000005"]


@pytest.mark.parametrize("beside", [True, False], ids=["label beside too", "label only inside"])
def test_the_label_inside_features_is_no_ground_truth(
    beside: bool,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """It was read as the ground truth: decay measured on whatever a writer put among the inputs."""

    def inside(record: dict[str, Any]) -> None:
        record["features"]["churned"] = 1 - record["churned"] if beside else record.pop("churned")

    source = _log(tmp_path, {7: inside, 120: inside})
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert f"column 'churned' failed {LABEL_INSIDE}: 2 value(s)" in whole
    assert "at rows [7, 120]" in whole
