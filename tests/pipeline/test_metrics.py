from itertools import pairwise

import numpy as np
from sklearn.metrics import roc_auc_score

from mlapp import metrics as m

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 500)
P = np.clip(Y * 0.3 + RNG.random(500) * 0.7, 0, 1)


def test_classification_metrics_match_sklearn() -> None:
    scores = m.classification_metrics(Y, P, 0.5)
    assert scores["roc_auc"] == round(roc_auc_score(Y, P), 6)
    assert set(scores) >= {
        "roc_auc",
        "pr_auc",
        "f1",
        "precision",
        "recall",
        "accuracy",
        "log_loss",
        "brier",
        "threshold",
    }


def test_curves_are_fixed_size_and_monotone() -> None:
    roc = m.roc_points(Y, P, 51)
    assert len(roc) == 51 and roc[0]["fpr"] == 0 and roc[-1]["tpr"] == 1
    assert all(a["tpr"] <= b["tpr"] for a, b in pairwise(roc))
    pr = m.pr_points(Y, P, 51)
    assert all(a["precision"] >= b["precision"] for a, b in pairwise(pr))


def test_confusion_and_calibration_count_every_row() -> None:
    assert sum(c["count"] for c in m.confusion(Y, P, 0.5)) == len(Y)
    assert sum(b["count"] for b in m.calibration(Y, P, 10)) == len(Y)
