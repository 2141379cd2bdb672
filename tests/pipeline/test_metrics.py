from itertools import pairwise

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, r2_score, roc_auc_score

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
    assert sum(c["count"] for c in m.confusion(Y, (P >= 0.5).astype(int), ["0", "1"])) == len(Y)
    assert sum(b["count"] for b in m.calibration(Y, P, 10)) == len(Y)


def test_multiclass_metrics_match_sklearn_and_name_every_class() -> None:
    y = RNG.integers(0, 3, 300)
    proba = RNG.dirichlet([1, 1, 1], 300) + np.eye(3)[y] * 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    scores = m.multiclass_metrics(y, proba, ["adelie", "chinstrap", "gentoo"])
    predicted = proba.argmax(axis=1)
    assert scores["f1_macro"] == round(f1_score(y, predicted, average="macro"), 6)
    assert scores["log_loss"] == round(log_loss(y, proba), 6)
    assert set(scores["per_class"]) == {"adelie", "chinstrap", "gentoo"}
    cells = m.confusion(y, predicted, ["adelie", "chinstrap", "gentoo"])
    assert len(cells) == 9 and sum(c["count"] for c in cells) == 300
    assert {"per_class.gentoo.recall", "accuracy"} <= set(m.flat(scores))


def test_regression_metrics_and_plots() -> None:
    y = RNG.normal(100, 20, 400)
    predicted = y + RNG.normal(0, 5, 400)
    scores = m.regression_metrics(y, predicted)
    assert scores["r2"] == round(r2_score(y, predicted), 6)
    assert scores["mae"] < scores["rmse"] < 7
    assert len(m.predicted_vs_actual(y, predicted, 50)) == 50
    assert sum(b["count"] for b in m.residuals(y, predicted, 20)) == 400


def test_every_task_metric_has_a_direction() -> None:
    assert {"rmse", "mae", "log_loss", "brier"} == m.LOWER_IS_BETTER
    for task, names in m.TASK_METRICS.items():
        for name in names:
            assert task in m.REGISTRY[name].tasks
    assert m.higher_is_better("per_class.adelie.recall") and not m.higher_is_better("rmse")


@pytest.mark.parametrize(
    ("task", "metric"), [("regression", "roc_auc"), ("multiclass", "f1"), ("binary", "rmse")]
)
def test_a_metric_of_another_task_is_a_params_error(task: str, metric: str) -> None:
    with pytest.raises(ValueError, match=f"not a metric of task {task}"):
        m.check_task_metric(task, metric, "gate.primary_metric")
