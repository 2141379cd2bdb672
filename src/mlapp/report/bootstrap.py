"""Paired bootstrap over test rows: confidence intervals for the difference of two models.

Both models are scored on the same resampled rows (paired), so how hard a row is cancels
out and the interval is about the models, not about the luck of the test set.

A resample is held as row counts (weights), so every metric is a weighted sum over the
original rows: a matrix product for the threshold metrics and the losses, and one pass
over rows sorted by score (ties grouped) for the ranking metrics. 1,000 resamples of a
few thousand rows take well under a second, with no Python loop over resamples.

Every task has its weighted form (``task_metrics``): binary as above; multiclass from
per-class counts (one-hot products), regression from weighted sums of errors (and of log errors).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mlapp.metrics import PER_CLASS, TASK_METRICS

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


def _grouped(
    weights: np.ndarray, y: np.ndarray, proba: np.ndarray, descending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight per distinct score, scores sorted: shapes (resamples, groups)."""
    order = np.argsort(-proba if descending else proba, kind="stable")
    sorted_proba = proba[order]
    starts = np.flatnonzero(np.r_[True, sorted_proba[1:] != sorted_proba[:-1]])
    w = weights[:, order]
    positive = y[order].astype(bool)
    return (
        np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1),
        np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1),
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and nan where a resample left the denominator empty."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def grouped_roc_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC from positive and negative weight per distinct score, scores ascending."""
    below = np.cumsum(neg, axis=1) - neg
    return _ratio((pos * (below + 0.5 * neg)).sum(axis=1), pos.sum(axis=1) * neg.sum(axis=1))


def grouped_average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision from positive and negative weight per distinct score, scores descending."""
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = np.nan_to_num(_ratio(tp, tp + fp))
    return _ratio((pos * precision).sum(axis=1), pos.sum(axis=1))


def roc_auc(weights: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mann-Whitney form: P(score of a positive > score of a negative), ties count half."""
    return grouped_roc_auc(*_grouped(weights, y, proba, descending=False))


def average_precision(weights: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """scikit-learn's definition: sum over thresholds of recall increase x precision there."""
    return grouped_average_precision(*_grouped(weights, y, proba, descending=True))


def weighted_metrics(
    weights: np.ndarray, y: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Every metric of ``METRICS`` for each row of ``weights`` (one resample per row)."""
    y = y.astype(np.float64)
    predicted = (proba >= threshold).astype(np.float64)
    tp = weights @ (y * predicted)
    fp = weights @ ((1 - y) * predicted)
    fn = weights @ (y * (1 - predicted))
    total = weights.sum(axis=1)
    clipped = np.clip(proba, EPS, 1 - EPS)
    row_log_loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    # zero_division=0, as in mlapp.metrics: an empty denominator scores 0, not nan.
    return {
        "roc_auc": roc_auc(weights, y, proba),
        "pr_auc": average_precision(weights, y, proba),
        "f1": np.nan_to_num(_ratio(2 * tp, 2 * tp + fp + fn)),
        "precision": np.nan_to_num(_ratio(tp, tp + fp)),
        "recall": np.nan_to_num(_ratio(tp, tp + fn)),
        "accuracy": _ratio(total - fp - fn, total),
        "log_loss": _ratio(weights @ row_log_loss, total),
        "brier": _ratio(weights @ (proba - y) ** 2, total),
    }


def multiclass_metrics(
    weights: np.ndarray, y: np.ndarray, proba: np.ndarray, classes: list[str]
) -> dict[str, np.ndarray]:
    """accuracy, macro/weighted F1, log loss and per-class precision/recall per resample."""
    k = len(classes)
    actual = np.eye(k)[y]
    predicted = np.eye(k)[np.argmax(proba, axis=1)]
    tp = weights @ (actual * predicted)  # (resamples, classes)
    support, claimed = weights @ actual, weights @ predicted
    total = weights.sum(axis=1)
    f1 = np.nan_to_num(_ratio(2 * tp, support + claimed))  # zero_division=0, as in mlapp.metrics
    clipped = np.clip(proba, EPS, 1 - EPS)
    row_loss = -np.log((clipped / clipped.sum(axis=1, keepdims=True))[np.arange(len(y)), y])
    scores = {
        "accuracy": _ratio(tp.sum(axis=1), total),
        "f1_macro": f1.mean(axis=1),
        "f1_weighted": _ratio((support * f1).sum(axis=1), total),
        "log_loss": _ratio(weights @ row_loss, total),
    }
    for i, name in enumerate(classes):
        scores[f"per_class.{name}.precision"] = np.nan_to_num(_ratio(tp[:, i], claimed[:, i]))
        scores[f"per_class.{name}.recall"] = np.nan_to_num(_ratio(tp[:, i], support[:, i]))
    return scores


def regression_metrics(weights: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    errors = predicted - y
    total = weights.sum(axis=1)
    squared = weights @ errors**2
    # Weighted sum of squares around each resample's mean, of labels centred first: sum(y^2) minus
    # n * mean^2 of raw labels near 1e12 cancels to noise (r2 0.99998 where scikit-learn says 0.75).
    centred = y - y.mean()
    spread = weights @ centred**2 - (weights @ centred) ** 2 / total
    # scikit-learn's r2 where the labels are constant (no spread): 1 for exact predictions, else 0.
    constant = np.where(squared == 0, 1.0, 0.0)
    # rmsle: nan in every resample when a label or prediction is at most -1 (undefined, as
    # mlapp.metrics leaves it out of metrics.json), not the value of the rows above -1 only.
    defined = bool(np.all(y > -1) and np.all(predicted > -1))
    log_errors = np.log1p(predicted) - np.log1p(y) if defined else np.full(len(y), np.nan)
    return {
        "rmse": np.sqrt(_ratio(squared, total)),
        "mae": _ratio(weights @ np.abs(errors), total),
        "r2": np.where(spread > 0, 1 - _ratio(squared, spread), constant),
        "rmsle": np.sqrt(_ratio(weights @ log_errors**2, total)),
    }


def metric_names(task: str, classes: list[str]) -> list[str]:
    """Every metric the report compares for a task, per-class ones last."""
    per_class = [f"per_class.{c}.{m}" for c in classes for m in PER_CLASS] if task == "multiclass" else []
    return [*TASK_METRICS[task], *per_class]


def task_metrics(
    task: str, weights: np.ndarray, y: np.ndarray, scores: np.ndarray, threshold: float, classes: list[str]
) -> dict[str, np.ndarray]:
    if task == "multiclass":
        return multiclass_metrics(weights, y, scores, classes)
    if task == "regression":
        return regression_metrics(weights, y.astype(np.float64), scores)
    return weighted_metrics(weights, y, scores, threshold)


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
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for weights in _weight_chunks(len(y), resamples, seed):
        base_scores = task_metrics(task, weights, y, *base, classes or [])
        pr_scores = task_metrics(task, weights, y, *pr, classes or [])
        for m in names:
            parts[m].append(pr_scores[m] - base_scores[m])
    return {m: np.concatenate(parts[m]) for m in names}


def resampled(
    y: np.ndarray, scored: tuple[np.ndarray, float], resamples: int, seed: int, task: str, classes: list[str]
) -> dict[str, np.ndarray]:
    """One model's metrics per resample of its rows; ``scored`` is (scores, binary threshold)."""
    names = metric_names(task, classes)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for weights in _weight_chunks(len(y), resamples, seed):
        values = task_metrics(task, weights, y, *scored, classes)
        for m in names:
            parts[m].append(values[m])
    return {m: np.concatenate(parts[m]) for m in names}


def percentile_interval(deltas: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval; resamples without a defined value (nan) are left out, and
    (nan, nan) when no resample has one."""
    if np.isnan(deltas).all():
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    return float(low), float(high)
