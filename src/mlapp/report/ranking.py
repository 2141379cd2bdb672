"""ROC AUC and average precision of weighted rows, from one sort of the model's scores.

The rows are sorted once per model, positives and negatives apart, each by score, and each
positive's place among the negatives (strictly below its score, and at it) is found once by
binary search. A resample's weights then need only running totals along the two sorted lists
and look-ups at those places: no sort per chunk of resamples, and no grouping of tied scores
in the weights matrix. Ties count as scikit-learn counts them (half, for ROC AUC; one
threshold per distinct score, for average precision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and nan where a resample left the denominator empty."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass(frozen=True)
class Ranked:
    """Row indices of the positives and the negatives, each by score ascending; per positive,
    how many negatives score below it and at most as high (None: the same, no tie across
    labels), and how many positives score below it (None: its own place, no tie among them)."""

    positives: np.ndarray
    negatives: np.ndarray
    negatives_below: np.ndarray
    negatives_not_above: np.ndarray | None
    positives_below: np.ndarray | None


def ranked(y: np.ndarray, proba: np.ndarray) -> Ranked:
    order = np.argsort(proba, kind="stable")
    positive = y[order].astype(bool)
    pos, neg = order[positive], order[~positive]
    pos_scores, neg_scores = proba[pos], proba[neg]
    below = np.searchsorted(neg_scores, pos_scores, side="left")
    not_above = np.searchsorted(neg_scores, pos_scores, side="right")
    pos_below = np.searchsorted(pos_scores, pos_scores, side="left")
    return Ranked(
        pos,
        neg,
        below,
        None if np.array_equal(below, not_above) else not_above,
        None if np.array_equal(pos_below, np.arange(len(pos))) else pos_below,
    )


def _running(weights: np.ndarray) -> np.ndarray:
    """Running totals along each row, after a leading 0: column i is the sum of the first i."""
    out = np.zeros((weights.shape[0], weights.shape[1] + 1))
    np.cumsum(weights, axis=1, out=out[:, 1:])
    return out


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) along each row, without the product's temporary."""
    return np.einsum("ij,ij->i", a, b)


def ranking_metrics(rows: Ranked, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision for each row of ``weights`` (one resample per row)."""
    pos_weight = np.take(weights, rows.positives, axis=1)
    pos_run, neg_run = _running(pos_weight), _running(np.take(weights, rows.negatives, axis=1))
    pos_total, neg_total = pos_run[:, -1], neg_run[:, -1]
    below = np.take(neg_run, rows.negatives_below, axis=1)
    # Mann-Whitney: P(score of a positive > score of a negative), ties count half.
    wins = _row_dot(pos_weight, below)
    if rows.negatives_not_above is not None:
        wins += 0.5 * _row_dot(pos_weight, np.take(neg_run, rows.negatives_not_above, axis=1) - below)
    auc = ratio(wins, pos_total * neg_total)
    # Average precision: at the threshold of each positive's score, the precision of all rows
    # scoring at least as high, weighted by that positive (recall's increase there).
    pos_below = (
        pos_run[:, :-1] if rows.positives_below is None else np.take(pos_run, rows.positives_below, axis=1)
    )
    true_pos = pos_total[:, None] - pos_below
    claimed = true_pos + neg_total[:, None]
    claimed -= below
    # No row scores that high where claimed is 0: that positive has no weight either.
    precision = np.divide(true_pos, claimed, out=np.zeros_like(claimed), where=claimed > 0)
    return auc, ratio(_row_dot(pos_weight, precision), pos_total)
