"""BatchCheck's work on a clean batch: the values that decide a parse rule's hint, not every value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlapp.monitor.batch import read_chunks
from mlapp.monitor.checks import BatchCheck
from mlapp.monitor.logs import Log
from mlapp.params import load_params
from mlapp.stages import parse_failures
from tests.monitor.helpers import fresh, write_csv

ROWS, CHUNK = 600, 200


def test_a_clean_batchs_event_times_are_not_all_scanned_for_hints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event times without a UTC offset fail only if the batch's fewer have none: that outcome
    keeps each chunk's first two as witnesses (their hint is the first's), not every time."""
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    params = params.model_copy(update={"monitor": params.monitor.model_copy(update={"chunk_rows": CHUNK})})
    source = write_csv(fresh(203, ROWS), tmp_path / "clean.csv")
    scanned: dict[str, int] = {}
    original = parse_failures.value_hints

    def spy(name: str, values: pd.Series, *args: Any) -> pd.Series:
        scanned[name] = scanned.get(name, 0) + len(values)
        return original(name, values, *args)

    monkeypatch.setattr(parse_failures, "value_hints", spy)
    check = BatchCheck(params)
    for frame, _ in read_chunks(str(source), params, Log(params.validate_.max_failure_examples)):
        check.add(frame)
    assert check.problems() == []
    # A few a chunk (its two, and those merged with the batch's so far), not all 600.
    assert 0 < scanned[params.data.time_column or ""] <= 10 * (ROWS // CHUNK)
