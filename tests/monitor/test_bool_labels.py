"""A yes/no label column (a Parquet or pandas boolean, nullable too, or CSV text "TRUE"/"false")
of a binary model trained on 0/1 labels names the same two classes, as training calls false/0 the
negative and true/1 the positive class: it was refused as classes the model does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlapp.monitor.batch import as_classes
from tests.monitor.helpers import LABEL, fresh, write_csv
from tests.monitor.test_chunk_inputs import CHUNK
from tests.monitor.test_chunks import _monitor


def _decay(report: dict[str, Any]) -> tuple[int, Any]:
    return report["labeled_rows"], report["decay"]


# monitor.min_rows labeled rows: the fewest whose decay is checked, in 4 chunks of CHUNK.
ROWS = 200


def test_a_yes_no_label_is_a_0_1_models_classes(in_project: Path, tmp_path: Path) -> None:
    """Each writer's yes/no labels give the decay the same labels as 0/1 give (one 0/1 run for all)."""
    frame = fresh(221, ROWS)
    frame.to_parquet(numbers := tmp_path / "numbers.parquet", index=False)
    expected = _decay(_monitor(in_project, numbers, tmp_path, CHUNK)[1])
    assert expected[1]["status"] == "checked", expected  # a comparison of decays, not of two skips
    for writer in ("bool", "boolean", "csv text"):
        if writer == "csv text":
            yes_no = frame.assign(**{LABEL: frame[LABEL].map({0: "false", 1: "TRUE"})})
            source = write_csv(yes_no, tmp_path / "yes.csv", labels=True)
        else:
            source = tmp_path / f"yes-{writer}.parquet"
            frame.assign(**{LABEL: frame[LABEL].astype(writer)}).to_parquet(source, index=False)
        code, report = _monitor(in_project, source, tmp_path, CHUNK)
        assert code != 2, (writer, report)
        assert _decay(report) == expected, writer


def test_a_nullable_boolean_labels_gaps_are_unlabeled_rows(
    in_project: Path,
    tmp_path: Path,
) -> None:
    frame = fresh(222, ROWS + 2)
    labels = frame[LABEL].astype("boolean")
    labels[[3, 150]] = pd.NA
    frame.assign(**{LABEL: labels}).to_parquet(source := tmp_path / "gaps.parquet", index=False)
    code, report = _monitor(in_project, source, tmp_path, CHUNK)
    assert code != 2, report
    assert report["labeled_rows"] == ROWS


@pytest.mark.parametrize(
    ("labels", "classes", "expected"),
    [
        ([True, False, None], ["0", "1"], ["1", "0", None]),
        (["true", "false", "1"], ["0", "1"], ["1", "0", "1"]),
        ([1, 0, 1.0], ["false", "true"], ["true", "false", "true"]),  # trained on yes/no, batch 0/1
        ([True, False], ["no", "yes"], [True, False]),  # other words: not guessed (refused as unknown)
        (["true"], ["0", "1", "2"], ["true"]),  # not binary
    ],
)
def test_yes_no_and_0_1_are_one_pair_of_classes_and_no_other(
    labels: list[Any], classes: list[str], expected: list[Any]
) -> None:
    got = as_classes(pd.Series(labels, dtype=object), classes)
    assert got.where(got.notna(), None).tolist() == expected
