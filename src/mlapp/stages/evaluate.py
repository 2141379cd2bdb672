"""Stage 4: score the held-out test set, write metrics and plot data, log the MLflow run.

Metrics and plot data are small deterministic JSON files committed to git, so
`dvc metrics diff` / `dvc plots diff` work against any branch without a remote.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from mlapp import metrics as m
from mlapp import tracking
from mlapp.model import Model, load
from mlapp.params import EvaluateParams, Params
from mlapp.tables import read_frame, write_json

PLOT_FILES = ("roc", "pr", "confusion", "calibration", "importance")


def feature_importance(model: Model) -> list[dict[str, Any]]:
    gain = model.booster.get_score(importance_type="total_gain")
    rows = [{"feature": f, "gain": m.round6(cast(float, gain.get(f, 0.0)))} for f in model.spec.features]
    return sorted(rows, key=lambda r: (-r["gain"], r["feature"]))


def evaluate(
    model: Model, test: pd.DataFrame, params: EvaluateParams
) -> tuple[dict[str, float], dict[str, Any]]:
    y_true = test[model.spec.label].to_numpy()
    proba = model.predict_proba(test)
    threshold = model.spec.threshold
    scores = m.classification_metrics(y_true, proba, threshold)
    plots = {
        "roc": m.roc_points(y_true, proba, params.curve_points),
        "pr": m.pr_points(y_true, proba, params.curve_points),
        "confusion": m.confusion(y_true, proba, threshold),
        "calibration": m.calibration(y_true, proba, params.calibration_bins),
        "importance": feature_importance(model),
    }
    return scores, plots


def run(
    params: Params,
    *,
    model_dir: Path,
    test_path: Path,
    metrics_path: Path,
    plots_dir: Path,
    log_to_mlflow: bool = True,
) -> int:
    if log_to_mlflow:
        tracking.connect(params.mlflow)  # fail before the work if the server is unreachable
    model = load(model_dir)
    test = read_frame(test_path)
    scores, plots = evaluate(model, test, params.evaluate)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    print(f"evaluated on {len(test)} test rows (positives {int(np.sum(test[model.spec.label]))}): {summary}")
    # Outputs are staged and moved into place only after the run is logged: a tracking
    # server that dies mid-run leaves no metrics without their run (and no half-written files).
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".evaluate-", dir=metrics_path.parent) as tmp:
        staged_metrics, staged_plots = Path(tmp) / "metrics.json", Path(tmp) / "plots"
        write_json(scores, staged_metrics)
        for name in PLOT_FILES:
            write_json(plots[name], staged_plots / f"{name}.json")
        if log_to_mlflow:
            run_id = tracking.log_run(params, model_dir, scores, plots, staged_plots)
            print(f"MLflow run {run_id} at {params.mlflow.resolved_tracking_uri()}")
        plots_dir.mkdir(parents=True, exist_ok=True)
        for name in PLOT_FILES:
            shutil.move(staged_plots / f"{name}.json", plots_dir / f"{name}.json")
        shutil.move(staged_metrics, metrics_path)
    return 0
