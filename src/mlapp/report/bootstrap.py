"""Paired bootstrap over test rows: confidence intervals for the difference of two models.

Both models are scored on the same resampled rows (paired), so how hard a row is cancels
out and the interval is about the models, not about the luck of the test set.

A resample is held as row counts (weights), so every metric is a weighted sum over the
original rows: one matrix product per model for the threshold metrics and the losses, and
running totals along the rows sorted by score, once per model (``ranking``), for ROC AUC and
average precision. Resamples are drawn in chunks (``CHUNK_CELLS``), which bounds memory: at
100,000 test rows and 1,000 resamples a chunk holds 10 resamples.

Every task has its weighted form (``measure_for``): binary as above; multiclass from per-class
counts (one-hot columns), regression from weighted sums of errors (and of log errors). What
does not depend on the resample (those columns, the sort) is computed once per model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from mlapp.metrics import PER_CLASS, TASK_METRICS
from mlapp.report import ranking
from mlapp.report.ranking import ratio

METRICS = TASK_METRICS["binary"]
# Resamples x rows held in memory at once (float64): bounds memory for large test sets.
CHUNK_CELLS = 1_000_000
EPS = 1e-15  # the clip mlapp.metrics applies before log loss


def resample_rows(rng: np.random.Generator, rows: int, resamples: int) -> np.ndarray:
    """The rows each resample draws (with replacement): shape (resamples, rows)."""
    return rng.integers(0, rows, size=(resamples, rows))


def tally(drawn: np.ndarray, bins: int) -> np.ndarray:
    """How often each of ``bins`` values occurs in each row of ``drawn``: (len(drawn), bins)."""
    flat = drawn + bins * np.arange(len(drawn))[:, None]
    return np.bincount(flat.ravel(), minlength=len(drawn) * bins).reshape(len(drawn), bins).astype(np.float64)


def grouped_roc_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC from positive and negative weight per distinct score, scores ascending."""
    below = np.cumsum(neg, axis=1) - neg
    return ratio((pos * (below + 0.5 * neg)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1))


def grouped_average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision from positive and negative weight per distinct score, scores descending."""
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.nan_to_num(ratio(tp, tp + fp))
    return ratio((pos * precision).sum(axis=1), pos.sum(axis=1))


Measure = Callable[[np.ndarray], dict[str, np.ndarray]]


def binary_measure(y: np.ndarray, proba: np.ndarray, threshold: float) -> Measure:
    """Every metric of ``METRICS`` for each row of a weights matrix (one resample per row)."""
    y = y.astype(np.float64)
    predicted = (proba >= threshold).astype(np.float64)
    clipped = np.clip(proba, EPS, 1 - EPS)
    # Each threshold metric and loss is a weighted sum of one per-row column: one matrix product.
    columns = np.column_stack(
        [
            y * predicted,
            (1 - y) * predicted,
            y * (1 - predicted),
            -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)),
            (proba - y) ** 2,
        ]
    )
    rows = ranking.ranked(y, proba)

    def measure(weights: np.ndarray) -> dict[str, np.ndarray]:
        tp, fp, fn, log_loss, brier = (weights @ columns).T
        total = weights.sum(axis=1)
        auc, average_precision = ranking.ranking_metrics(rows, weights)
        # zero_division=0, as in mlapp.metrics: an empty denominator scores 0, not nan.
        return {
            "roc_auc": auc,
            "pr_auc": average_precision,
            "f1": np.nan_to_num(ratio(2 * tp, 2 * tp + fp + fn)),
            "precision": np.nan_to_num(ratio(tp, tp + fp)),
            "recall": np.nan_to_num(ratio(tp, tp + fn)),
            "accuracy": ratio(total - fp - fn, total),
            "log_loss": ratio(log_loss, total),
            "brier": ratio(brier, total),
        }

    return measure


def multiclass_measure(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> Measure:
    """accuracy, macro/weighted F1, log loss and per-class precision/recall per resample."""
    k = len(classes)
    actual = np.eye(k)[y]
    predicted = np.eye(k)[np.argmax(proba, axis=1)]
    clipped = np.clip(proba, EPS, 1 - EPS)
    row_loss = -np.log((clipped / clipped.sum(axis=1, keepdims=True))[np.arange(len(y)), y])
    columns = np.column_stack([actual * predicted, actual, predicted, row_loss])

    def measure(weights: np.ndarray) -> dict[str, np.ndarray]:
        sums = weights @ columns
        tp, support, claimed = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
        total = weights.sum(axis=1)
        f1 = np.nan_to_num(ratio(2 * tp, support + claimed))  # zero_division=0, as in mlapp.metrics
        scores = {
            "accuracy": ratio(tp.sum(axis=1), total),
            "f1_macro": f1.mean(axis=1),
            "f1_weighted": ratio((support * f1).sum(axis=1), total),
            "log_loss": ratio(sums[:, 3 * k], total),
        }
        for i, name in enumerate(classes):
            scores[f"per_class.{name}.precision"] = np.nan_to_num(ratio(tp[:, i], claimed[:, i]))
            scores[f"per_class.{name}.recall"] = np.nan_to_num(ratio(tp[:, i], support[:, i]))
        return scores

    return measure


def regression_measure(y: np.ndarray, predicted: np.ndarray) -> Measure:
    errors = predicted - y
    # Weighted sum of squares around each resample's mean, of labels centred first: sum(y^2) minus
    # n * mean^2 of raw labels near 1e12 cancels to noise (r2 0.99998 where scikit-learn says 0.75).
    centred = y - y.mean()
    # rmsle: nan in every resample when a label or prediction is at most -1 (undefined, as
    # mlapp.metrics leaves it out of metrics.json), not the value of the rows above -1 only.
    defined = bool(np.all(y > -1) and np.all(predicted > -1))
    log_errors = np.log1p(predicted) - np.log1p(y) if defined else np.full(len(y), np.nan)
    columns = np.column_stack([errors**2, np.abs(errors), centred, centred**2, log_errors**2])

    def measure(weights: np.ndarray) -> dict[str, np.ndarray]:
        squared, absolute, centred_sum, centred_squares, log_squared = (weights @ columns).T
        total = weights.sum(axis=1)
        spread = centred_squares - centred_sum**2 / total
        # scikit-learn's r2 where the labels are constant (no spread): 1 for exact predictions, else 0.
        constant = np.where(squared == 0, 1.0, 0.0)
        return {
            "rmse": np.sqrt(ratio(squared, total)),
            "mae": ratio(absolute, total),
            "r2": np.where(spread > 0, 1 - ratio(squared, spread), constant),
            "rmsle": np.sqrt(ratio(log_squared, total)),
        }

    return measure


def roc_auc(weights: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mann-Whitney form: P(score of a positive > score of a negative), ties count half."""
    return ranking.ranking_metrics(ranking.ranked(y, proba), weights)[0]


def weighted_metrics(
    weights: np.ndarray, y: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Every metric of ``METRICS`` for each row of ``weights`` (one resample per row)."""
    return binary_measure(y, proba, threshold)(weights)


def multiclass_metrics(
    weights: np.ndarray, y: np.ndarray, proba: np.ndarray, classes: list[str]
) -> dict[str, np.ndarray]:
    return multiclass_measure(y, proba, classes)(weights)


def regression_metrics(weights: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    return regression_measure(y, predicted)(weights)


def metric_names(task: str, classes: list[str]) -> list[str]:
    """Every metric the report compares for a task, per-class ones last."""
    per_class = [f"per_class.{c}.{m}" for c in classes for m in PER_CLASS] if task == "multiclass" else []
    return [*TASK_METRICS[task], *per_class]


def measure_for(
    task: str, y: np.ndarray, scores: np.ndarray, threshold: float, classes: list[str]
) -> Measure:
    """A model's metrics as a function of the weights matrix; what does not depend on the
    resample (per-row columns, the sort by score) is computed here, once."""
    if task == "multiclass":
        return multiclass_measure(y, scores, classes)
    if task == "regression":
        return regression_measure(y.astype(np.float64), scores)
    return binary_measure(y, scores, threshold)


def task_metrics(
    task: str, weights: np.ndarray, y: np.ndarray, scores: np.ndarray, threshold: float, classes: list[str]
) -> dict[str, np.ndarray]:
    return measure_for(task, y, scores, threshold, classes)(weights)


def drawn_chunks(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The resamples' drawn rows, a bounded number of resamples at a time (``CHUNK_CELLS``)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_CELLS // max(rows, 1))
    for done in range(0, resamples, chunk):
        yield resample_rows(rng, rows, min(chunk, resamples - done))


def _weight_chunks(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The resamples' row counts, chunk by chunk (``drawn_chunks``)."""
    for drawn in drawn_chunks(rows, resamples, seed):
        yield tally(drawn, rows)


def _over_chunks(
    rows: int, resamples: int, seed: int, names: list[str], values: Measure
) -> dict[str, np.ndarray]:
    """``values`` of each chunk of resamples, joined: metric -> one value per resample."""
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    # A few resamples by many rows: OpenBLAS's threads cost more than they save on such products,
    # several times over when the machine is busy (benchmarks/report_bootstrap.py).
    with threadpool_limits(limits=1, user_api="blas"):
        for weights in _weight_chunks(rows, resamples, seed):
            for m, chunk in values(weights).items():
                parts[m].append(chunk)
    return {m: np.concatenate(parts[m]) for m in names}


def paired_deltas(
    y: np.ndarray,
    base: tuple[np.ndarray, float],
    pr: tuple[np.ndarray, float],
    resamples: int,
    seed: int,
    task: str = "binary",
    classes: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """PR minus base per metric and resample; ``base``/``pr`` are (scores, binary threshold)."""
    names = metric_names(task, classes or [])
    base_measure = measure_for(task, y, *base, classes or [])
    pr_measure = measure_for(task, y, *pr, classes or [])

    def deltas(weights: np.ndarray) -> dict[str, np.ndarray]:
        base_scores, pr_scores = base_measure(weights), pr_measure(weights)
        return {m: pr_scores[m] - base_scores[m] for m in names}

    return _over_chunks(len(y), resamples, seed, names, deltas)


def resampled(
    y: np.ndarray, scored: tuple[np.ndarray, float], resamples: int, seed: int, task: str, classes: list[str]
) -> dict[str, np.ndarray]:
    """One model's metrics per resample of its rows; ``scored`` is (scores, binary threshold)."""
    names = metric_names(task, classes)
    return _over_chunks(len(y), resamples, seed, names, measure_for(task, y, *scored, classes))


def percentile_interval(deltas: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval; resamples without a defined value (nan) are left out, and
    (nan, nan) when no resample has one."""
    if np.isnan(deltas).all():
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    return float(low), float(high)
