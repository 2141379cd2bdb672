"""`mlapp monitor run` reads a batch `monitor.chunk_rows` rows at a time: every row is checked
(problems name the file's rows across chunks) and the report is the whole batch's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from mlapp.cells import BATCH_LABEL_FIX
from mlapp.model import ModelSpec
from mlapp.monitor import drift, render, run, stats
from mlapp.monitor.batch import InvalidBatch
from mlapp.monitor.checks import BatchCheck, batch_schema
from mlapp.monitor.tally import LabeledSample
from mlapp.params import Params, load_params
from mlapp.stages.validate_rules import check_table
from tests.monitor.helpers import LABEL, drifted, flipped, fresh, write_csv, write_log
from tests.monitor.test_stats import bin_numeric

CHUNK = 200  # a 1,500-row batch is 8 chunks
WHOLE = 10**6  # one chunk


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every batch table pandera validates: at most a chunk each, never the batch."""
    sizes: list[int] = []
    original = pa.DataFrameSchema.validate

    def spy(self: pa.DataFrameSchema, frame: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(frame))
        return original(self, frame, *args, **kwargs)

    monkeypatch.setattr(pa.DataFrameSchema, "validate", spy)
    yield sizes


def _params(project: Path, chunk_rows: int) -> Params:
    params = load_params(project / "params.yaml")
    return params.model_copy(update={"monitor": params.monitor.model_copy(update={"chunk_rows": chunk_rows})})


def _monitor(project: Path, source: Path, out: Path, chunk_rows: int) -> tuple[int, dict[str, Any]]:
    params = _params(project, chunk_rows)
    json_path, md_path = out / f"{source.name}-{chunk_rows}.json", out / f"{source.name}-{chunk_rows}.md"
    code = run.main(
        params,
        source=str(source),
        json_path=json_path,
        markdown_path=md_path,
        model_dir=params.train.model_dir,
    )
    return code, json.loads(json_path.read_text())


def _parquet(frame: pd.DataFrame, path: Path, *, labels: bool) -> Path:
    if frame["tenure_months"].dtype == object:  # "lots" among the numbers: a text column
        frame = frame.astype({"tenure_months": str})
    (frame if labels else frame.drop(columns=[LABEL])).to_parquet(path, index=False)
    return path


def _log(frame: pd.DataFrame, path: Path, *, labels: bool) -> Path:
    return write_log(frame, path, model_version="x", labels=labels)


WRITERS: dict[str, Callable[..., Path]] = {"csv": write_csv, "parquet": _parquet, "jsonl": _log}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_a_drifted_labeled_batch_over_several_chunks_gets_the_whole_batch_report(
    fmt: str, in_project: Path, tmp_path: Path, validated: list[int]
) -> None:
    """Drift, prediction shift and decay (40% of labels flipped) counted chunk by chunk: the same
    report, number for number, as the batch in one chunk, and no chunk larger than chunk_rows."""
    source = WRITERS[fmt](flipped(drifted(102), 0.4, 5), tmp_path / f"drifted.{fmt}", labels=True)
    whole_code, whole = _monitor(in_project, source, tmp_path, WHOLE)
    validated.clear()
    code, chunked = _monitor(in_project, source, tmp_path, CHUNK)
    assert len(validated) == 8 and max(validated) == CHUNK  # 7 chunks of 200 and one of 100
    assert (code, chunked) == (whole_code, whole)
    assert code == run.RETRAIN and chunked["decay"]["status"] == "checked"
    assert {rule["rule"] for rule in chunked["rules"] if rule["triggered"]} >= {
        "severe_feature",
        "metric_decay",
    }


def test_a_fresh_batch_over_several_chunks_is_not_flagged_either(in_project: Path, tmp_path: Path) -> None:
    source = write_csv(fresh(101), tmp_path / "fresh.csv")
    chunked = _monitor(in_project, source, tmp_path, CHUNK)
    assert chunked == _monitor(in_project, source, tmp_path, WHOLE)
    assert chunked[0] == run.NO_ACTION


def _broken(rows: int = 1500) -> pd.DataFrame:
    """Problems on both sides of chunk boundaries (rows 199 | 200, 999 | 1000) and a duplicate id
    whose copies sit in different chunks."""
    frame = fresh(104, rows).astype({"tenure_months": object})
    frame.loc[[199, 200, 1234], "contract"] = "weekly"
    frame.loc[[5, 1000], "tenure_months"] = "lots"
    frame.loc[999, "customer_id"] = frame.loc[3, "customer_id"]
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_problems_name_the_files_rows_across_chunks(
    fmt: str, in_project: Path, tmp_path: Path, validated: list[int]
) -> None:
    source = WRITERS[fmt](_broken(), tmp_path / f"broken.{fmt}", labels=False)
    with pytest.raises(InvalidBatch) as whole:
        _monitor(in_project, source, tmp_path, WHOLE)
    validated.clear()
    with pytest.raises(InvalidBatch) as chunked:
        _monitor(in_project, source, tmp_path, CHUNK)
    assert len(validated) == 8 and max(validated) == CHUNK
    assert str(chunked.value) == str(whole.value)
    by_column = {p.column: p for p in chunked.value.problems}
    assert (by_column["contract"].count, by_column["contract"].rows) == (3, [199, 200, 1234])
    assert (by_column["tenure_months"].count, by_column["tenure_months"].rows) == (2, [5, 1000])
    id_column = "customer_id" if fmt != "jsonl" else None  # a log's id is the request's
    if id_column:
        assert (by_column[id_column].count, by_column[id_column].rows) == (2, [3, 999])
    assert chunked.value.rows == 1500
    report = json.loads((tmp_path / f"{source.name}-{CHUNK}.json").read_text())
    assert report["status"] == "invalid" and report["rows"] == 1500


def test_repeated_ids_across_chunks_are_reported_as_pandera_reports_them_on_the_whole_batch() -> None:
    """The ids are kept as hashes, not text: the same count, first ids and first rows."""
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    frame = _broken().drop(columns=[LABEL]).astype(str)
    for copy, of in ((700, 3), (1400, 20), (10, 1300)):
        frame.loc[copy, "customer_id"] = frame.loc[of, "customer_id"]
    fixes = {LABEL: BATCH_LABEL_FIX}
    _, whole = check_table(frame, batch_schema(params), 5, 200, "monitor.min_rows", ".", fixes)
    check = BatchCheck(params)
    for start in range(0, len(frame), CHUNK):
        check.add(frame.iloc[start : start + CHUNK])
    (expected,) = [p for p in whole if p.column == "customer_id"]
    assert [p for p in check.problems() if p.column == "customer_id"] == [expected]
    assert (expected.count, expected.rows) == (7, [3, 10, 20, 700, 999])


def test_too_few_rows_is_counted_over_every_chunk(in_project: Path, tmp_path: Path) -> None:
    """min_rows is the batch's, not a chunk's: 250 rows in chunks of 200 and 50 pass it (200),
    150 rows fail it in either reading."""
    code, report = _monitor(in_project, write_csv(fresh(105, 250), tmp_path / "ok.csv"), tmp_path, CHUNK)
    assert code == run.NO_ACTION and report["rows"] == 250
    with pytest.raises(InvalidBatch, match=r"at least 200 rows \(found 150"):
        _monitor(in_project, write_csv(fresh(106, 150), tmp_path / "few.csv"), tmp_path, 100)


def test_labeled_rows_beyond_the_bootstrap_rows_are_a_seeded_sample_whatever_the_chunks() -> None:
    """Decay keeps at most monitor.decay_bootstrap_rows labeled rows: every one below (in row
    order), a uniform sample above; the same rows for the same seed, in chunks or at once."""
    labels, scores = np.arange(10_000) % 2, np.arange(10_000) / 10_000
    whole = LabeledSample(3000, seed=11)
    whole.add(labels, scores)
    chunked = LabeledSample(3000, seed=11)
    for part in np.array_split(np.arange(10_000), 7):
        chunked.add(labels[part], scores[part])
    (y, kept), (y_chunked, kept_chunked) = whole.sample(), chunked.sample()
    assert kept.tolist() == kept_chunked.tolist() and y.tolist() == y_chunked.tolist()
    assert len(kept) == 3000 and chunked.rows == 10_000 and np.all(np.diff(kept) > 0)
    assert 0.4 < kept.mean() < 0.6  # spread over the batch, not its first rows
    other = LabeledSample(3000, seed=12)
    other.add(labels, scores)
    assert other.sample()[1].tolist() != kept.tolist()
    below = LabeledSample(20_000, seed=11)
    below.add(labels, scores)
    assert below.sample()[1].tolist() == scores.tolist()  # every row, in order


def test_the_report_says_when_decay_was_measured_on_a_sample() -> None:
    metric = {"metric": "roc_auc", "reference": 0.8, "batch": 0.79, "batch_low": 0.78, "batch_high": 0.8,
              "change": -0.01, "tolerance": 0.05, "decayed": False}  # fmt: skip
    decay = {"status": "checked", "why": "", "metrics": [metric]}
    report = {"labeled_rows": 300_000, "thresholds": {"decay_bootstrap_rows": 200_000}, "decay": decay}
    sampled = "\n".join(render._decay(report))
    assert "a seeded random sample of 200000 of the 300000 labeled rows" in sampled
    assert "sample" not in "\n".join(render._decay(report | {"labeled_rows": 200_000}))


@pytest.mark.parametrize("rows", [3000, 30_000])  # scipy's exact p-value, and its asymptotic one
def test_ks_and_psi_counted_in_chunks_are_scipys_on_the_whole_batch(rows: int) -> None:
    rng = np.random.default_rng(7)
    reference = np.append(rng.integers(0, 40, 2000).astype(float), [np.nan] * 20)  # ties, gaps
    batch = np.append(rng.integers(-5, 45, rows).astype(float) + rng.choice([0, 0.5], rows), [np.nan] * 7)
    tally = stats.NumericTally(reference, 10)
    for chunk in np.array_split(batch, 9):
        tally.add(chunk)
    assert tally.ks() == stats.ks(reference, batch)
    expected = bin_numeric(reference, batch, 10)  # the whole batch at once
    assert tally.binned().batch.tolist() == pytest.approx(expected.batch.tolist(), abs=1e-15)


def test_a_multiclass_prediction_shift_counted_in_chunks_is_the_whole_batchs() -> None:
    spec = ModelSpec([], {}, "species", None, 0, "multiclass", ["a", "b", "c"])
    rng = np.random.default_rng(8)
    reference, batch = rng.dirichlet([1, 2, 3], 900), rng.dirichlet([3, 2, 1], 2500)
    monitor = load_params(Path(__file__).parents[2] / "params.yaml").monitor
    tally = drift.PredictionTally(reference, spec, monitor.bins)
    for chunk in np.array_split(batch, 6):
        tally.add(chunk)
    assert tally.shift(monitor) == drift.prediction_shift(reference, batch, spec, monitor)
