"""Metric decay: a drop beyond monitor.decay_tolerance that the batch's sampling noise does not explain."""

import numpy as np

from mlapp.model import ModelSpec
from mlapp.monitor import drift
from mlapp.monitor.rows import MetricDecay

SPEC = ModelSpec(["x"], {}, "y", 0.5, 10)
REFERENCE = {"roc_auc": 0.80, "pr_auc": 0.30}
TOLERANCE = {"roc_auc": 0.05}
BOOTSTRAP = {"resamples": 1000, "seed": 7, "confidence": 0.95, "max_rows": 200_000}


def _decay(y: np.ndarray, scores: np.ndarray) -> MetricDecay:
    (row,) = drift.metric_decay(y, scores, SPEC, REFERENCE, TOLERANCE, **BOOTSTRAP)
    return row


def test_a_drop_on_three_positives_is_noise_not_decay() -> None:
    """1% positives: a 300-row batch of the training distribution holds ~3. Their AUC moved by
    more than the tolerance in 2 of 4 draws, and the monitor asked for a retraining PR."""
    negatives = np.linspace(0, 1, 297)
    y = np.r_[np.ones(3, int), np.zeros(297, int)]
    row = _decay(y, np.r_[[0.35, 0.7, 0.9], negatives])
    assert row.reference - row.batch > row.tolerance  # the point estimate alone said "decayed"
    assert row.batch_low is not None and row.batch_high is not None
    assert row.batch_low < REFERENCE["roc_auc"] < row.batch_high and not row.decayed


def test_a_collapse_on_many_labeled_rows_is_decay() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.2).astype(int)
    row = _decay(y, rng.random(3000))  # scores that no longer rank: AUC ~0.5
    assert row.decayed and row.batch_high is not None and row.batch_high < REFERENCE["roc_auc"]
