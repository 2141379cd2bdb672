"""Metric decay's bootstrap by cell: the report's bootstrap values, bounded on large batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from mlapp.metrics import round6
from mlapp.model import ModelSpec
from mlapp.monitor import drift, resampling
from mlapp.report import bootstrap

CLASSES = ["a", "b", "c"]


def _task(task: str, rows: int, seed: int) -> tuple[np.ndarray, tuple[np.ndarray, float], list[str]]:
    """Labels and scores with a signal, rounded so that many rows share a score (ties)."""
    rng = np.random.default_rng(seed)
    if task == "binary":
        y = (rng.random(rows) < 0.2).astype(np.int64)
        return y, (np.round(np.clip(0.3 * y + rng.random(rows) * 0.7, 0, 1), 2), 0.4), []
    if task == "multiclass":
        y = rng.integers(0, 3, rows)
        logits = np.eye(3)[y] + rng.normal(0, 0.8, (rows, 3))
        proba = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
        return y, (proba, 0.5), CLASSES
    y = np.round(rng.normal(10, 3, rows), 1)
    return y, (np.round(y + rng.normal(0, 1, rows), 1), 0.5), []


@pytest.mark.parametrize(
    ("task", "names"),
    [
        ("binary", ["roc_auc", "pr_auc"]),  # the ranking path: cumulative sums over distinct scores
        ("binary", list(bootstrap.METRICS)),  # every metric: cells as weighted rows
        ("binary", ["f1", "accuracy"]),  # confusion counts only: (label, predicted) cells
        ("multiclass", bootstrap.metric_names("multiclass", CLASSES)),
        ("multiclass", ["f1_macro", "accuracy", "per_class.b.recall"]),
        ("regression", bootstrap.metric_names("regression", [])),
    ],
)
def test_each_resample_is_the_reports(task: str, names: list[str]) -> None:
    """Same generator, same draws: by cell or by row, the same value in every resample."""
    y, scored, classes = _task(task, 1500, seed=3)
    before = bootstrap.resampled(y, scored, 300, 11, task, classes)
    after = resampling.resampled(y, scored, 300, 11, task, classes, names)
    assert list(after) == names
    for m in names:
        np.testing.assert_allclose(after[m], before[m], rtol=0, atol=1e-12, err_msg=m)


def test_the_monitors_intervals_are_the_previous_ones() -> None:
    """metric_decay up to decay_bootstrap_rows: the intervals of the report's bootstrap."""
    y, (scores, _), _ = _task("binary", 2000, seed=5)
    spec = ModelSpec(["x"], {}, "y", 0.4, 10)
    tolerances = {"roc_auc": 0.05, "pr_auc": 0.05, "f1": 0.05}
    rows = drift.metric_decay(
        y,
        scores,
        spec,
        {m: 0.9 for m in tolerances},
        tolerances,
        resamples=400,
        seed=2,
        confidence=0.95,
        max_rows=2000,
    )
    previous = bootstrap.resampled(y, (scores, 0.4), 400, 2, "binary", [])
    for row in rows:
        low, high = bootstrap.percentile_interval(previous[row.metric], 0.95)
        assert (row.batch_low, row.batch_high) == (round6(low), round6(high)), row.metric


def test_only_the_watched_ranking_metrics_are_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def every_metric(*_: object) -> None:
        raise AssertionError("weighted_metrics computed every binary metric for AUC alone")

    monkeypatch.setattr(bootstrap, "weighted_metrics", every_metric)
    y, scored, _ = _task("binary", 500, seed=1)
    assert list(resampling.resampled(y, scored, 50, 1, "binary", [], ["pr_auc"])) == ["pr_auc"]


def test_a_large_batch_resamples_a_bounded_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above max_rows each resample draws max_rows rows, a bounded number of resamples at a
    time, and the tallies have no more columns than max_rows rows have cells."""
    draws: list[tuple[int, ...]] = []
    drawn_chunks = bootstrap.drawn_chunks

    def spied(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
        for drawn in drawn_chunks(rows, resamples, seed):
            draws.append(drawn.shape)
            yield drawn

    monkeypatch.setattr(bootstrap, "drawn_chunks", spied)
    y, scored, _ = _task("multiclass", 30_000, seed=2)
    values = resampling.resampled(
        y,
        scored,
        resamples=120,
        seed=4,
        task="multiclass",
        classes=CLASSES,
        names=["accuracy"],
        max_rows=4000,
    )
    assert values["accuracy"].shape == (120,)
    assert sum(shape[0] for shape in draws) == 120
    assert all(shape[1] == 4000 and shape[0] * shape[1] <= bootstrap.CHUNK_CELLS for shape in draws)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_subset_interval_is_the_full_one(task: str) -> None:
    """A fifth of the rows, its spread scaled by sqrt(1/5): the full bootstrap's interval to
    within a small share of its width, centred on the metric of all rows."""
    y, scored, classes = _task(task, 40_000, seed=8)
    names = [bootstrap.metric_names(task, classes)[0]]
    full = resampling.resampled(y, scored, 400, 6, task, classes, names)[names[0]]
    part = resampling.resampled(
        y, scored, resamples=400, seed=6, task=task, classes=classes, names=names, max_rows=8000
    )[names[0]]
    assert not np.array_equal(part, full)  # the subset's, not every row's
    full_low, full_high = bootstrap.percentile_interval(full, 0.95)
    low, high = bootstrap.percentile_interval(part, 0.95)
    width = full_high - full_low
    assert abs(low - full_low) < 0.25 * width and abs(high - full_high) < 0.25 * width
    whole = resampling.point(y, scored, task, classes, names)[names[0]]
    assert low < whole < high


def test_up_to_max_rows_every_row_is_resampled() -> None:
    y, scored, _ = _task("regression", 800, seed=9)
    kept = resampling.resampled(
        y, scored, resamples=50, seed=1, task="regression", classes=[], names=["mae"], max_rows=800
    )
    np.testing.assert_array_equal(
        kept["mae"], resampling.resampled(y, scored, 50, 1, "regression", [], ["mae"])["mae"]
    )


@pytest.mark.parametrize(
    ("task", "names", "most"), [("binary", ["recall"], 4), ("multiclass", ["f1_weighted"], 9)]
)
def test_confusion_metrics_tally_classes_squared_cells(
    monkeypatch: pytest.MonkeyPatch, task: str, names: list[str], most: int
) -> None:
    """Accuracy, F1, precision, recall: a cell per (label, predicted class), whatever the rows."""
    sizes: list[int] = []
    tally = bootstrap.tally

    def spied(drawn: np.ndarray, bins: int) -> np.ndarray:
        sizes.append(bins)
        return tally(drawn, bins)

    monkeypatch.setattr(bootstrap, "tally", spied)
    y, scored, classes = _task(task, 5000, seed=4)
    resampling.resampled(y, scored, 20, 1, task, classes, names)
    assert sizes and max(sizes) <= most


def test_a_rare_class_keeps_every_row() -> None:
    """40 positives in 40,000 rows: a subset of a tenth would hold about 4, whose chance would
    set the interval; every row is resampled instead."""
    y, (scores, threshold), _ = _task("binary", 40_000, seed=3)
    y = np.zeros_like(y)
    y[::1000] = 1
    scored = (scores, threshold)
    kept = resampling.resampled(
        y, scored, resamples=100, seed=1, task="binary", classes=[], names=["roc_auc"], max_rows=4000
    )
    full = resampling.resampled(y, scored, 100, 1, "binary", [], ["roc_auc"])
    np.testing.assert_array_equal(kept["roc_auc"], full["roc_auc"])
