"""Model quality metrics per task, with their direction: evaluate, the PR report and the monitor.

One registry (``REGISTRY``) says which metrics a task has and whether a larger value is better;
everything that compares two values (report deltas, the gate, decay) asks it.

Adding a metric: ``REGISTRY`` (direction, range, whether binary computes it at the threshold) and
``TASK_METRICS`` here, its value in the task's function below (evaluate and the monitor), its
weighted form in ``mlapp.report.bootstrap`` (the PR report's paired intervals and the gate), its
name in ``params_base.MetricName`` (so ``gate.primary_metric``, ``monitor.decay_tolerance`` and
``tune.metric`` accept it) and, to see it in ``make exps``, the Makefile's ``EXPS_KEEP``.
tests/pipeline/test_metrics.py names a place missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from mlapp.errors import ParamsError

DIGITS = 6


def _sklearn() -> ModuleType:
    # Imported on first use: params validation needs only the registry below, and the serving
    # image (which loads params.yaml) has no scikit-learn.
    from sklearn import metrics

    return metrics


EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] before log loss


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    tasks: tuple[str, ...]
    low: float = 0.0  # the values the metric can take: a gate bound outside them is a units mistake
    high: float = 1.0
    # Binary: computed from the labels predicted at the model's own threshold (the report says so).
    at_threshold: bool = False


REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, ("binary",)),
        Metric("pr_auc", True, ("binary",)),
        Metric("f1", True, ("binary",), at_threshold=True),
        Metric("precision", True, ("binary", "multiclass"), at_threshold=True),  # multiclass: per class
        Metric("recall", True, ("binary", "multiclass"), at_threshold=True),  # multiclass: per class
        Metric("accuracy", True, ("binary", "multiclass"), at_threshold=True),
        Metric("log_loss", False, ("binary", "multiclass"), high=math.inf),
        Metric("brier", False, ("binary",)),
        Metric("f1_macro", True, ("multiclass",)),
        Metric("f1_weighted", True, ("multiclass",)),
        Metric("rmse", False, ("regression",), high=math.inf),  # in the label's units
        Metric("mae", False, ("regression",), high=math.inf),
        Metric("r2", True, ("regression",), low=-math.inf),  # below 0: worse than the mean
        # Of log(1 + value): relative errors, for a skewed positive label (prices, counts). Defined
        # where every label and prediction is above -1 (``rmsle_undefined``).
        Metric("rmsle", False, ("regression",), high=math.inf),
    )
}
# Losses and errors: a smaller value is a better model.
LOWER_IS_BETTER = frozenset(name for name, m in REGISTRY.items() if not m.higher_is_better)
AT_THRESHOLD = frozenset(name for name, m in REGISTRY.items() if m.at_threshold)
# The headline metrics of each task, in the order reports list them (per-class ones come after).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("rmse", "mae", "r2", "rmsle"),
}
PER_CLASS = ("precision", "recall")  # multiclass: one value per class, named per_class.<class>.<metric>


def higher_is_better(name: str) -> bool:
    """Direction of a metric, also for a per-class one (``per_class.<class>.recall``)."""
    return REGISTRY[name.rsplit(".", 1)[-1]].higher_is_better


def task_metric_problems(task: str, named: Iterable[tuple[str, str]]) -> list[str]:
    """One line per (setting, metric name) pair that names no metric of the task."""
    choose = f"choose one of {list(TASK_METRICS[task])}"
    return [
        f"{where}: {name!r} is not a metric of task {task}; {choose}"
        for where, name in named
        if name not in TASK_METRICS[task]
    ]


def value_range(name: str) -> str:
    """The values metric ``name`` can take, in words: "from 0 to 1", "0 or more", "at most 1"."""
    metric = REGISTRY[name]
    if math.isinf(metric.high):
        return f"{metric.low:g} or more"
    if math.isinf(metric.low):
        return f"at most {metric.high:g}"
    return f"from {metric.low:g} to {metric.high:g}"


def gate_bound_problem(name: str, bound: float) -> str | None:
    """Why ``gate.min_primary`` cannot be meant for metric ``name`` (None when it can be): a bound
    the metric can never take was written in another metric's units. A floor above the top or a
    ceiling below the bottom fails every pull request; the others pass every one."""
    metric = REGISTRY[name]
    if metric.low <= bound <= metric.high:
        return None
    role = (
        f"the minimum {name} the PR's model must reach"
        if metric.higher_is_better
        else f"the maximum {name} the PR's model may have (lower is better)"
    )
    return (
        f"{bound:g} is outside {name}'s range ({value_range(name)}): for gate.primary_metric "
        f"{name} it is {role}, in {name}'s units; set a value {value_range(name)}"
    )


def check_task_metric(task: str, name: str, setting: str) -> None:
    for problem in task_metric_problems(task, [(setting, name)]):
        raise ParamsError(problem)


def round6(value: float) -> float:
    return round(float(value), DIGITS)


def flat(scores: dict[str, Any]) -> dict[str, float]:
    """metrics.json as flat names (``per_class.a.recall``): what the report and MLflow compare."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in flat(value).items()})
        else:
            out[key] = float(value)
    return out


def task_metrics(
    task: str, y: np.ndarray, scores: np.ndarray, threshold: float | None, classes: list[str]
) -> dict[str, Any]:
    """metrics.json of a task. ``y``: class indices (classification) or values (regression)."""
    if task == "binary":
        return classification_metrics(y, scores, threshold if threshold is not None else 0.5)
    if task == "multiclass":
        return multiclass_metrics(y, scores, classes)
    return regression_metrics(y, scores)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (proba >= threshold).astype(int)
    return {
        "roc_auc": round6(_sklearn().roc_auc_score(y_true, proba)),
        "pr_auc": round6(_sklearn().average_precision_score(y_true, proba)),
        "f1": round6(_sklearn().f1_score(y_true, predicted, zero_division=0)),
        "precision": round6(_sklearn().precision_score(y_true, predicted, zero_division=0)),
        "recall": round6(_sklearn().recall_score(y_true, predicted, zero_division=0)),
        "accuracy": round6(_sklearn().accuracy_score(y_true, predicted)),
        "log_loss": round6(_sklearn().log_loss(y_true, np.clip(proba, EPS, 1 - EPS), labels=[0, 1])),
        "brier": round6(_sklearn().brier_score_loss(y_true, proba)),
        "threshold": round6(threshold),
    }


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    labels = list(range(len(classes)))
    predicted = np.argmax(proba, axis=1)
    precision, recall, _, _ = _sklearn().precision_recall_fscore_support(
        y_true, predicted, labels=labels, zero_division=0
    )
    clipped = np.clip(proba, EPS, 1 - EPS)
    return {
        "accuracy": round6(_sklearn().accuracy_score(y_true, predicted)),
        "f1_macro": round6(
            _sklearn().f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "f1_weighted": round6(
            _sklearn().f1_score(y_true, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "log_loss": round6(
            _sklearn().log_loss(y_true, clipped / clipped.sum(axis=1, keepdims=True), labels=labels)
        ),
        "per_class": {
            name: {"precision": round6(p), "recall": round6(r)}
            for name, p, r in zip(classes, precision, recall, strict=True)
        },
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """rmse, mae, r2, and rmsle where it is defined (``rmsle_undefined`` says why not)."""
    scores = {
        "rmse": round6(np.sqrt(_sklearn().mean_squared_error(y_true, predicted))),
        "mae": round6(_sklearn().mean_absolute_error(y_true, predicted)),
        "r2": round6(_sklearn().r2_score(y_true, predicted)),
    }
    if rmsle_undefined({"label": y_true, "prediction": predicted}) is None:
        scores["rmsle"] = round6(_sklearn().root_mean_squared_log_error(y_true, predicted))
    return scores


def rmsle_undefined(named: dict[str, np.ndarray], examples: int = 5) -> str | None:
    """Why rmsle cannot be computed, naming the rows (0-based positions) of each array of
    ``named`` ({"label": ..., "prediction": ...}) at -1 or below; None when it can. log(1 + value)
    needs every value above -1: leaving those rows out would drop the worst errors, and clipping
    them would report a value no model made."""
    found = []
    for what, values in named.items():
        values = np.asarray(values, dtype=np.float64)
        rows = np.flatnonzero(~(values > -1))  # nan too: no log of it
        if len(rows):
            shown = ", ".join(str(r) for r in rows[:examples]) + (", ..." if len(rows) > examples else "")
            found.append(f"{len(rows):,} {what}(s) at most -1 at rows {shown} (e.g. {values[rows[0]]:g})")
    if not found:
        return None
    return "rmsle is undefined: log(1 + value) needs every value above -1; " + "; ".join(found)


def roc_points(y_true: np.ndarray, proba: np.ndarray, points: int) -> list[dict[str, float]]:
    """ROC resampled on a fixed FPR grid: small, and comparable across models."""
    fpr, tpr, _ = _sklearn().roc_curve(y_true, proba)
    grid = np.linspace(0, 1, points)
    return [
        {"fpr": round6(x), "tpr": round6(y)} for x, y in zip(grid, np.interp(grid, fpr, tpr), strict=True)
    ]


def pr_points(y_true: np.ndarray, proba: np.ndarray, points: int) -> list[dict[str, float]]:
    """Interpolated precision (best precision at recall >= r) on a fixed recall grid."""
    precision, recall, _ = _sklearn().precision_recall_curve(y_true, proba)
    order = np.argsort(recall)
    recall, precision = recall[order], np.maximum.accumulate(precision[order][::-1])[::-1]
    grid = np.linspace(0, 1, points)
    index = np.clip(np.searchsorted(recall, grid, side="left"), 0, len(recall) - 1)
    return [
        {"recall": round6(r), "precision": round6(precision[i])} for r, i in zip(grid, index, strict=True)
    ]


def confusion(y_true: np.ndarray, predicted: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    """Counts per (actual, predicted) class name; ``predicted`` holds class indices."""
    k = len(classes)
    matrix = _sklearn().confusion_matrix(y_true, predicted, labels=list(range(k)))
    return [
        {"actual": classes[a], "predicted": classes[p], "count": int(matrix[a, p])}
        for a in range(k)
        for p in range(k)
    ]


def calibration(y_true: np.ndarray, proba: np.ndarray, bins: int) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append(
                {
                    "bin": b,
                    "mean_predicted": round6(proba[mask].mean()),
                    "fraction_positive": round6(y_true[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return rows


def predicted_vs_actual(y_true: np.ndarray, predicted: np.ndarray, points: int) -> list[dict[str, float]]:
    """At most ``points`` test rows, evenly spaced in actual-value order: small and reproducible."""
    order = np.argsort(y_true, kind="stable")
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(points, len(order))).round().astype(int))]
    return [{"actual": round6(y_true[i]), "predicted": round6(predicted[i])} for i in pick]


def residuals(y_true: np.ndarray, predicted: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Histogram of prediction - actual: where the errors sit and whether they lean one way."""
    errors = predicted - y_true
    counts, edges = np.histogram(errors, bins=bins)
    return [{"residual": round6((edges[i] + edges[i + 1]) / 2), "count": int(counts[i])} for i in range(bins)]
