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
    assert {"rmse", "mae", "rmsle", "log_loss", "brier"} == m.LOWER_IS_BETTER
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


def test_every_place_a_metric_is_named_agrees_with_the_registry() -> None:
    """Adding a metric (metrics.py's docstring lists the places): each place missed is named."""
    from typing import get_args

    from mlapp.params_base import MetricName
    from mlapp.report import bootstrap

    assert set(get_args(MetricName)) == set(m.REGISTRY), (
        "params_base.MetricName must list mlapp.metrics.REGISTRY"
    )
    y, weights = np.array([0, 1, 1, 0]), np.ones((2, 4))
    scores = {"binary": P[:4], "multiclass": np.full((4, 2), 0.5), "regression": P[:4]}
    for task, names in m.TASK_METRICS.items():
        evaluated = m.task_metrics(task, y, scores[task], 0.5, ["a", "b"])
        assert set(names) <= set(evaluated), f"mlapp.metrics.task_metrics({task!r}) must compute {names}"
        weighted = bootstrap.task_metrics(task, weights, y, scores[task], 0.5, ["a", "b"])
        assert set(names) <= set(weighted), f"report/bootstrap.py's {task} form must compute {names}"


def test_a_metric_missing_from_metric_name_is_a_params_error_naming_it(tmp_path, monkeypatch) -> None:
    import yaml

    from mlapp.errors import ParamsError
    from mlapp.params import load_params
    from tests.conftest import REPO

    monkeypatch.setitem(m.TASK_METRICS, "binary", (*m.TASK_METRICS["binary"], "a_new_metric"))
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["task"], raw["gate"]["primary_metric"] = "binary", "a_new_metric"
    (path := tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ParamsError, match=r"'a_new_metric' is a metric of mlapp.metrics, not yet of params_base"
    ):
        load_params(path)


def test_the_threshold_flag_marks_exactly_the_binary_metrics_a_threshold_moves() -> None:
    """``Metric.at_threshold`` (the PR report's note) agrees with what evaluate computes."""
    low, high = m.classification_metrics(Y, P, 0.3), m.classification_metrics(Y, P, 0.7)
    moved = {name for name in m.TASK_METRICS["binary"] if low[name] != high[name]}
    assert moved == m.AT_THRESHOLD
