"""A prediction log's served scores are checked as its features are: a value that is no
probability refuses the batch, naming the field, the rule, its values and rows, in any chunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.model import load
from mlapp.monitor.batch import InvalidBatch, read_batch
from mlapp.monitor.logs import Log, log_chunks
from mlapp.monitor.served import PREDICTION_RULE, PROBABILITY_RULE, served_scores
from tests.monitor.helpers import fresh, write_log
from tests.monitor.test_chunk_inputs import CHUNK, _errors, _outcome
from tests.monitor.test_chunks import WHOLE, _params


def _log(tmp_path: Path, cells: dict[int, Any], version: str = "x") -> Path:
    """A 300-row binary log served with score 0.3, with ``cells`` as some rows' score."""
    frame, scores = fresh(211, 300), np.full(300, 0.3)
    source = write_log(frame, tmp_path / "scores.jsonl", model_version=version, scores=scores)
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for row, value in cells.items():
        records[row]["probability"] = value
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    return source


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cells", "said"),
    [
        ({3: 1.7, 250: 1.7}, "2 value(s), e.g. [1.7] at rows [3, 250]"),  # past 1, in two chunks
        ({120: -0.1}, "1 value(s), e.g. [-0.1] at rows [120]"),
        ({5: "abc", 60: "high"}, "2 value(s), e.g. ['abc', 'high'] at rows [5, 60]"),
        ({5: True, 6: False}, "2 value(s), e.g. [True, False] at rows [5, 6]"),  # not 1 and 0
        ({5: [0.2, 0.8]}, "e.g. ['[0.2, 0.8]'] at rows [5]"),
        ({7: {"0": 0.7, "1": 0.3}}, "at rows [7]"),
    ],
)
def test_a_logged_probability_that_is_no_probability_refuses_the_log(
    cells: dict[int, Any],
    said: str,
    in_project: Path,
    tmp_path: Path,
) -> None:
    source = _log(tmp_path, cells)
    whole, chunked = _errors(in_project, source, tmp_path)
    assert chunked == whole
    assert f"column 'probability' failed {PROBABILITY_RULE}" in whole
    assert said in whole
    with pytest.raises(InvalidBatch) as held:  # the log held whole (read_batch) says it too
        read_batch(str(source), _params(in_project, WHOLE))
    assert said in str(held.value)


def test_a_probability_written_as_text_null_or_nan_is_read_as_a_features_value_is(
    in_project: Path,
    tmp_path: Path,
) -> None:
    """Text "0.3" parses as a feature's "12" does; null and JSON's NaN are no score logged."""
    version = load(_params(in_project, WHOLE).train.model_dir).version  # its scores compared
    source = _log(tmp_path, {5: "0.3", 6: None, 7: float("nan")}, version)
    code, report = _outcome(in_project, source, tmp_path, CHUNK)
    assert code != 2, report
    assert report["served"]["max_score_difference"] is not None


CLASSES = ["bronze", "gold", "silver"]


@pytest.mark.parametrize(
    "value",
    [
        {"bronze": 0.5, "gold": 0.5},  # a class short: a vector of the wrong length
        {"bronze": 0.2, "gold": 0.2, "silver": 0.2, "platinum": 0.4},  # a class too many
        {"bronze": 0.5, "gold": 0.3, "silver": 0.1},  # sums to 0.9
        {"bronze": 1.5, "gold": -0.5, "silver": 0.0},  # sums to 1, outside [0, 1]
        {"bronze": "x", "gold": 0.5, "silver": 0.5},
        {"bronze": True, "gold": False, "silver": False},
        {"bronze": None, "gold": 0.5, "silver": 0.5},
        [0.2, 0.3, 0.5],  # a list: which class is which is not said
        0.4,
        "gold",
        {},
    ],
)
def test_multiclass_probabilities_must_be_the_models_classes_summing_to_one(value: Any) -> None:
    logged = [
        {"bronze": 0.2, "gold": "0.3", "silver": 0.5},
        None,
        value,
        {"gold": 0.1, "silver": 0.6, "bronze": 0.3},
    ]
    values = pd.Series(logged, index=pd.RangeIndex(40, 44), dtype=object, name="probabilities")
    _, found = served_scores(values, "multiclass", CLASSES, ".", 5)
    assert found is not None
    assert (found.column, found.count, found.rows) == ("probabilities", 1, [42])
    assert "['bronze', 'gold', 'silver']" in found.check and "summing to 1" in found.check


def test_multiclass_probabilities_rounded_by_their_writer_are_accepted() -> None:
    """Three classes rounded to 3 decimals sum to 0.999: within the tolerance, not a corrupt log."""
    values = pd.Series(
        [{"bronze": 0.333, "gold": 0.333, "silver": 0.333}], dtype=object, name="probabilities"
    )
    assert served_scores(values, "multiclass", CLASSES, ".", 5)[1] is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("high", "high"),
        (True, True),  # not 1
        ([1.0, 2.0], "[1.0, 2.0]"),
        (float("inf"), float("inf")),
        (float("-inf"), float("-inf")),
        ("inf", "inf"),
    ],
)
def test_a_regression_prediction_that_is_no_number_refuses_the_log(value: Any, shown: Any) -> None:
    """A regression log's prediction was not checked at all."""
    logged = [12.5, "3.25", None, float("nan"), value, -7]  # text parses, null and NaN: none logged
    values = pd.Series(logged, index=pd.RangeIndex(40, 46), dtype=object, name="prediction")
    _, found = served_scores(values, "regression", None, ".", 5)
    assert found is not None
    assert (found.column, found.check, found.count, found.rows) == ("prediction", PREDICTION_RULE, 1, [44])
    assert len(found.values) == 1 and str(shown) in str(found.values)  # as a report shows it


def test_a_regression_log_s_prediction_field_is_the_one_checked(
    in_project: Path,
) -> None:
    """The field the service writes for a regression model, read from each record, rows across chunks."""
    params = _params(in_project, WHOLE)
    params = params.model_copy(update={"task": "regression"})
    predictions = [1.5, "x", 2.0, float("inf"), 3.0]
    lines = [json.dumps({"features": {}, "prediction": p, "probability": "not read"}) for p in predictions]
    log = Log(5)
    for _ in log_chunks(lines, params, 2, log):  # three chunks
        pass
    assert log.unusable is not None
    assert (log.unusable.column, log.unusable.rows) == ("prediction", [1, 3])
