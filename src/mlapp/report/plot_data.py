"""The plot data a report holds for each model: evaluate's plots for the task, on the PR's test set."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlapp import metrics as m
from mlapp.model import Model
from mlapp.params import Params


def curves(model: Model, y: np.ndarray, scores: np.ndarray, params: Params) -> dict[str, Any]:
    """Plot data of the model's task (as evaluate writes it), plus coarse copies for the comment."""
    spec = model.spec
    if spec.task == "regression":
        return {
            "predicted_vs_actual": m.predicted_vs_actual(y, scores, params.evaluate.scatter_points),
            "residuals": m.residuals(y, scores, params.evaluate.residual_bins),
            "abs_error_quantiles": {
                f"p{q}": m.round6(np.percentile(np.abs(scores - y), q)) for q in (50, 90, 99)
            },
            "bias": m.round6(np.mean(scores - y)),
        }
    confusion = {"confusion": m.confusion(y, spec.decide(scores), spec.classes)}
    if spec.task == "multiclass":
        return confusion
    points = params.evaluate.curve_points
    return {
        **confusion,
        "roc": m.roc_points(y, scores, points),
        "pr": m.pr_points(y, scores, points),
        "calibration": m.calibration(y, scores, params.evaluate.calibration_bins),
        # Coarser copies for the Mermaid charts, which must stay small in a comment.
        "roc_chart": m.roc_points(y, scores, params.report.chart_points),
        "pr_chart": m.pr_points(y, scores, params.report.chart_points),
    }
