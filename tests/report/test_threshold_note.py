"""The metrics table's footnote names the metrics computed at each model's threshold."""

from __future__ import annotations

from typing import Any

import pytest

from mlapp import metrics
from mlapp.report import markdown, schema
from mlapp.report.schema import MetricDelta
from tests.report.test_schema import _report


def _with_rows(names: list[str], task: str = "binary") -> dict[str, Any]:
    report = _report(True)
    report["task"] = task
    report["metrics"] = [MetricDelta(n, 0.8, 0.8, 0.0, 0.0, 0.0, True, schema.SAME).as_dict() for n in names]
    report["changes"] = {"data": {"pr": {"rows_test": 100}}}
    report["curves"] = {"base": {}, "pr": {}}
    report["models"] = {"base": {"threshold": 0.41}, "pr": {"threshold": 0.52}}
    return report


def _note(report: dict[str, Any]) -> str:
    return next(line for line in markdown.metrics(report, compact=False) if line.startswith("<sub>★"))


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (list(metrics.TASK_METRICS["binary"]), "f1, precision, recall and accuracy use each model's own"),
        (["roc_auc", "accuracy", "log_loss"], "accuracy uses each model's own threshold (base 0.4100, PR"),
    ],
)
def test_the_note_names_the_thresholded_metrics_the_table_shows(names: list[str], said: str) -> None:
    assert said in _note(_with_rows(names))


def test_a_new_threshold_metric_is_named_and_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """The note reads the registry's flag: a metric added with it is named, without a text to edit."""
    monkeypatch.setattr(markdown, "AT_THRESHOLD", metrics.AT_THRESHOLD | {"balanced_accuracy"})
    note = _note(_with_rows(["roc_auc", "f1", "balanced_accuracy", "brier"]))
    assert "f1 and balanced_accuracy use each model's own threshold" in note
    assert "roc_auc" not in note and "brier" not in note


def test_multiclass_has_no_threshold_note() -> None:
    assert "threshold" not in _note(_with_rows(["accuracy", "f1_macro"], task="multiclass"))
