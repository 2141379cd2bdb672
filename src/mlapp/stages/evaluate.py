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
from mlapp import tracking, tracking_failures
from mlapp.errors import redact, writing
from mlapp.files import json_text
from mlapp.model import Model, load, total_gain
from mlapp.params import EvaluateParams, Params
from mlapp.swap import signals_held, swap_in
from mlapp.tables import read_frame

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
            f"labels? label_outliers, label_min, label_max in {validation_report})"
        )
    if scores.get("roc_auc", 1) <= 0.5:
        return f"; note: roc_auc {scores['roc_auc']:.4f} is no better than a coin"
    return ""


def rmsle_note(model: Model, test: pd.DataFrame, scores: dict[str, Any], *, examples: int) -> str:
    """Why a regression model's metrics.json has no rmsle (a test label or prediction at most -1);
    "" when it has one. Scored again only then: a rare case, named rather than silently missing."""
    if model.task != "regression" or "rmsle" in scores:
        return ""
    y = model.spec.encode(test[model.spec.label], examples=examples)
    why = m.rmsle_undefined({"test label": y, "prediction": model.scores(test)}, examples)
    return f"; note: {why} (0-based rows of the test split): metrics.json has no rmsle"


def staging_folder(output: Path | None) -> Path:
    """A new temporary folder beside ``output`` (on its filesystem); with none, anywhere."""
    with writing(output.parent if output else Path(tempfile.gettempdir())):  # read-only: one line
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".evaluate-", dir=output.parent if output else None))


def publish(
    staged_metrics: Path, metrics_path: Path | None, staged_plots: Path, plots_dir: Path | None
) -> None:
    """The plot folder swapped in whole (``swap_in``), then the metrics file renamed over the old
    one, with Ctrl-C and SIGTERM held across both: an interrupt between them left the plots of
    one model beside the metrics of another. Only a SIGKILL in the microseconds between the two
    renames can still split them (`dvc status` then names the plots as modified). A metrics file
    that cannot be replaced puts the previous plots back."""
    old = staged_plots.with_name("old")  # the previous plots, removed with the staging folder
    with signals_held():
        if plots_dir:
            with writing(plots_dir):
                swap_in(staged_plots, plots_dir, old)
        if metrics_path:
            with writing(metrics_path):
                try:
                    staged_metrics.replace(metrics_path)
                except OSError:
                    if plots_dir and old.exists():
                        swap_in(old, plots_dir, staged_plots)
                    raise


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
    note = guess_note(scores, params.validate_.report) + rmsle_note(model, test, scores, examples=examples)
    labels = label_note(model, test, examples=examples)
    print(f"evaluated {model.task} on {len(test)} test rows ({labels}): {summary}{note}")
    # Outputs are staged and moved into place only after the run is logged: a tracking
    # server that dies mid-run leaves no metrics without their run (and no half-written files).
    # Staged beside each output (a rename, not a copy); with none (a one-off check), anywhere.
    tmps = [staging_folder(metrics_path or plots_dir)]
    try:
        if plots_dir and metrics_path and plots_dir.parent != metrics_path.parent:
            tmps.append(staging_folder(plots_dir))
        staged_metrics, staged_plots = tmps[0] / "metrics.json", tmps[-1] / "plots"
        # Plain writes (the folders are the staging): one that fails (a full disk) names the
        # output, not a staged file in a folder removed by the time it is read.
        with writing(metrics_path or staged_metrics):
            staged_metrics.write_text(json_text(scores))
        with writing(plots_dir or staged_plots):
            staged_plots.mkdir()
            # Exactly the task's plots: another task's would describe another model.
            for name in PLOT_FILES[model.task]:
                (staged_plots / f"{name}.json").write_text(json_text(plots[name]))
        if log_to_mlflow:
            uri = params.mlflow.resolved_tracking_uri()
            with tracking_failures.store_free(uri, unlogged=tracking_failures.STAGE_UNDONE):
                run_id = tracking.log_run(params, model_dir, scores, plots, staged_plots)
            print(f"MLflow run {run_id} at {redact(uri)}")
        publish(staged_metrics, metrics_path, staged_plots, plots_dir)
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
