"""Stage 4: score the held-out test set, write metrics and plot data, log the MLflow run.

Metrics and plot data are small deterministic JSON files committed to git, so
`dvc metrics diff` / `dvc plots diff` work against any branch without a remote.
The task decides which metrics and plots (``PLOT_FILES``); the plot folder holds exactly
the task's files, each of which dvc.yaml defines.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import metrics as m
from mlapp import tracking
from mlapp.errors import writing
from mlapp.model import Model, load, total_gain
from mlapp.params import EvaluateParams, Params
from mlapp.tables import read_frame, write_json

PLOT_FILES: dict[str, tuple[str, ...]] = {
    "binary": ("roc", "pr", "confusion", "calibration", "importance"),
    "multiclass": ("confusion", "importance"),
    "regression": ("predicted_vs_actual", "residuals", "importance"),
}


def feature_importance(model: Model) -> list[dict[str, Any]]:
    gain = total_gain(model.booster, model.spec.features)
    rows = [{"feature": f, "gain": m.round6(value)} for f, value in gain.items()]
    return sorted(rows, key=lambda r: (-r["gain"], r["feature"]))


def task_plots(model: Model, y: np.ndarray, scores: np.ndarray, params: EvaluateParams) -> dict[str, Any]:
    """Plot data of the model's task (names as in ``PLOT_FILES``), importance aside."""
    spec = model.spec
    if spec.task == "regression":
        return {
            "predicted_vs_actual": m.predicted_vs_actual(y, scores, params.scatter_points),
            "residuals": m.residuals(y, scores, params.residual_bins),
        }
    plots = {"confusion": m.confusion(y, spec.decide(scores), spec.classes)}
    if spec.task == "binary":
        plots |= {
            "roc": m.roc_points(y, scores, params.curve_points),
            "pr": m.pr_points(y, scores, params.curve_points),
            "calibration": m.calibration(y, scores, params.calibration_bins),
        }
    return plots


def evaluate(
    model: Model, test: pd.DataFrame, params: EvaluateParams, *, examples: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and plot data; ``examples``: validate.max_failure_examples, the unknown labels named."""
    spec = model.spec
    y = spec.encode(test[spec.label], examples=examples)
    scores = model.scores(test)
    metrics = m.task_metrics(spec.task, y, scores, spec.threshold, spec.classes)
    plots = {**task_plots(model, y, scores, params), "importance": feature_importance(model)}
    return metrics, plots


def label_note(model: Model, test: pd.DataFrame, *, examples: int) -> str:
    labels = test[model.spec.label]
    if model.task == "regression":
        return f"label mean {labels.mean():.4g}"
    counts = np.bincount(model.spec.encode(labels, examples=examples), minlength=len(model.spec.classes))
    return "classes " + ", ".join(f"{c} {n}" for c, n in zip(model.spec.classes, counts, strict=True))


def guess_note(scores: dict[str, Any], validation_report: Path) -> str:
    """A word when the model does no better on test than a guess: an r2 below 0 (the test
    labels' mean predicts them better) or a ROC AUC at most 0.5 (a coin does as well)."""
    if scores.get("r2", 0) < 0:
        return (
            f"; note: r2 {scores['r2']:.4f} is no better than predicting the test labels' mean (extreme "
            f"labels? label_min, label_max in {validation_report})"
        )
    if scores.get("roc_auc", 1) <= 0.5:
        return f"; note: roc_auc {scores['roc_auc']:.4f} is no better than a coin"
    return ""


def run(
    params: Params,
    *,
    model_dir: Path,
    test_path: Path,
    metrics_path: Path | None,
    plots_dir: Path | None,
    log_to_mlflow: bool = True,
) -> int:
    """``metrics_path``, ``plots_dir`` None: not written (a one-off check of another model or test
    table, which must not replace the pipeline's), the metrics printed only."""
    if log_to_mlflow:
        tracking.connect(params.mlflow)  # fail before the work if the server is unreachable
    model = load(model_dir)
    test = read_frame(test_path, [params.data.label])
    examples = params.validate_.max_failure_examples
    scores, plots = evaluate(model, test, params.evaluate, examples=examples)
    summary = ", ".join(f"{k} {v:.4f}" for k, v in m.flat(scores).items() if not k.startswith("per_class"))
    note = guess_note(scores, params.validate_.report)
    labels = label_note(model, test, examples=examples)
    print(f"evaluated {model.task} on {len(test)} test rows ({labels}): {summary}{note}")
    # Outputs are staged and moved into place only after the run is logged: a tracking
    # server that dies mid-run leaves no metrics without their run (and no half-written files).
    # Staged next to an output (a rename, not a copy); with none (a one-off check), anywhere.
    target = metrics_path or plots_dir
    with writing(target.parent if target else Path(tempfile.gettempdir())):  # read-only: one line
        if target:
            target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".evaluate-", dir=target.parent if target else None))
    names = PLOT_FILES[model.task]
    try:
        staged_metrics, staged_plots = tmp / "metrics.json", tmp / "plots"
        write_json(scores, staged_metrics)
        for name in names:
            write_json(plots[name], staged_plots / f"{name}.json")
        if log_to_mlflow:
            uri = params.mlflow.resolved_tracking_uri()
            with tracking.store_free(uri):
                run_id = tracking.log_run(params, model_dir, scores, plots, staged_plots)
            print(f"MLflow run {run_id} at {uri}")
        if plots_dir:
            with writing(plots_dir):
                plots_dir.mkdir(parents=True, exist_ok=True)
                for stale in plots_dir.glob("*.json"):  # another task's plots would describe another model
                    if stale.stem not in names:
                        stale.unlink()
                for name in names:
                    shutil.move(staged_plots / f"{name}.json", plots_dir / f"{name}.json")
        if metrics_path:
            with writing(metrics_path):
                shutil.move(staged_metrics, metrics_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
