"""Model quality metrics and plot data, shared by evaluate and the PR report."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

DIGITS = 6
# Losses: a smaller value is a better model (the report and the monitor compare directions).
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


def round6(value: float) -> float:
    return round(float(value), DIGITS)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (proba >= threshold).astype(int)
    return {
        "roc_auc": round6(skm.roc_auc_score(y_true, proba)),
        "pr_auc": round6(skm.average_precision_score(y_true, proba)),
        "f1": round6(skm.f1_score(y_true, predicted, zero_division=0)),
        "precision": round6(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": round6(skm.recall_score(y_true, predicted, zero_division=0)),
        "accuracy": round6(skm.accuracy_score(y_true, predicted)),
        "log_loss": round6(skm.log_loss(y_true, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": round6(skm.brier_score_loss(y_true, proba)),
        "threshold": round6(threshold),
    }


def roc_points(y_true: np.ndarray, proba: np.ndarray, points: int) -> list[dict[str, float]]:
    """ROC resampled on a fixed FPR grid: small, and comparable across models."""
    fpr, tpr, _ = skm.roc_curve(y_true, proba)
    grid = np.linspace(0, 1, points)
    return [
        {"fpr": round6(x), "tpr": round6(y)} for x, y in zip(grid, np.interp(grid, fpr, tpr), strict=True)
    ]


def pr_points(y_true: np.ndarray, proba: np.ndarray, points: int) -> list[dict[str, float]]:
    """Interpolated precision (best precision at recall >= r) on a fixed recall grid."""
    precision, recall, _ = skm.precision_recall_curve(y_true, proba)
    order = np.argsort(recall)
    recall, precision = recall[order], np.maximum.accumulate(precision[order][::-1])[::-1]
    grid = np.linspace(0, 1, points)
    index = np.clip(np.searchsorted(recall, grid, side="left"), 0, len(recall) - 1)
    return [
        {"recall": round6(r), "precision": round6(precision[i])} for r, i in zip(grid, index, strict=True)
    ]


def confusion(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    matrix = skm.confusion_matrix(y_true, (proba >= threshold).astype(int), labels=[0, 1])
    return [
        {"actual": str(a), "predicted": str(p), "count": int(matrix[a, p])} for a in (0, 1) for p in (0, 1)
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
