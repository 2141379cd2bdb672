"""Stage 3: fit an XGBoost model for the task (scikit-learn API) and save it without pickle.

A seeded part of the training rows (stratified for classification; whole groups of
``data.group_column`` when set) is held out for early stopping and, for binary, for choosing the
decision threshold, so the test set stays untouched until evaluate. The task picks the objective
and the early-stopping metric (regression: ``train.regression_objective``, squared, pseudo-Huber
or absolute error, or tweedie or gamma, log-link losses whose predictions are on the label's
scale).
The thread count is a parameter: it fixes floating-point summation order, which is
what makes the model bytes identical from run to run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split

from mlapp.labels import label_text
from mlapp.model import ModelSpec, save
from mlapp.params import Params, Task, TrainParams
from mlapp.schema import FEATURES, categories, feature_schema
from mlapp.stages.split_checks import SplitError, check_parts, check_stratifiable, class_fix
from mlapp.stages.split_groups import holdout as group_holdout
from mlapp.stages.train_checks import check_huber_slope, check_learnt, uses_huber_slope
from mlapp.tables import read_frame, stage_table

# XGBoost objective and early-stopping metric per classification task.
OBJECTIVES: dict[str, tuple[str, str]] = {
    "binary": ("binary:logistic", "logloss"),
    "multiclass": ("multi:softprob", "mlogloss"),
}
# Regression: train.regression_objective, and the metric early stopping watches for it: the loss
# being minimised, so the trees stop where it stops improving on the validation rows (rmse there
# would weigh the outlying labels a robust loss is chosen to discount, and on a skewed label a
# handful of the largest ones decide it). Tweedie's negative log-likelihood names its power.
REGRESSION_METRICS: dict[str, str] = {
    "squarederror": "rmse",
    "pseudohubererror": "mphe",
    "absoluteerror": "mae",
    "tweedie": "tweedie-nloglik@{power}",
    "gamma": "gamma-nloglik",
}
# A class missing from the hold-out, as both engines say it: what it costs (the fix: ``class_fix``).
HOLDOUT_COST = "early stopping (and a binary threshold) is judged on it"


def objective(task: str, params: TrainParams, labels: Any = None, classes: int = 0) -> dict[str, Any]:
    """XGBoost's objective, early-stopping metric and the objective's own parameters for the task.

    ``classes``: how many the model scores (multiclass: XGBoost's num_class). XGBoost's classifier
    sets it itself only for more than two, its native train (Dask) never: two classes of task
    multiclass stopped train with XGBoost's "num_class should be greater equal to 1".
    ``labels``: the fit rows' regression labels. XGBoost's own starting value for pseudo-Huber is
    one Newton step from 0, far off for a label far from 0 in huber_slope's units (42,576 for
    labels around 200 with slope 1), and early stopping then kept no tree: it starts from their
    median instead, robust like the loss."""
    if task != "regression":
        name, metric = OBJECTIVES[task]
        scored = {"num_class": classes} if task == "multiclass" else {}
        return {"objective": name, "eval_metric": metric, **scored}
    loss = params.regression_objective
    metric = REGRESSION_METRICS[loss].format(power=f"{params.tweedie_variance_power:g}")
    chosen: dict[str, Any] = {"objective": f"reg:{loss}", "eval_metric": metric}
    if loss == "tweedie":
        chosen["tweedie_variance_power"] = params.tweedie_variance_power
    if loss == "pseudohubererror":
        chosen["huber_slope"] = params.huber_slope
        if labels is not None:
            chosen["base_score"] = float(np.median(labels))
    return chosen


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, params: TrainParams) -> float:
    if params.threshold_metric == "fixed":
        return params.fixed_threshold
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return round(float(thresholds[int(np.argmax(f1[:-1]))]), 6)


def class_names(labels: pd.Series, declared: list[str] | None) -> list[str]:
    """The class order: as declared in params, else the sorted distinct labels (numbers by value)."""
    if declared is not None:
        return list(declared)
    present = label_text(labels).dropna().unique().tolist()
    numeric = all(v.lstrip("-").replace(".", "", 1).isdigit() for v in present)
    return sorted(present, key=float if numeric else str)


def base_spec(label: str, task: Task = "binary", classes: list[str] | None = None) -> ModelSpec:
    """Features and category levels from the schema, task and classes; threshold and trees come later."""
    return ModelSpec(
        features=list(FEATURES),
        categories=categories(feature_schema()),
        label=label,
        threshold=0.5 if task == "binary" else None,
        best_iteration=0,
        task=task,
        classes=[] if task == "regression" else list(classes or ["0", "1"]),
    )


class Holdout(NamedTuple):
    """The training part as train fits it: encoded labels, and fit rows beside validation rows."""

    spec: ModelSpec  # features, category levels, task and classes; threshold and trees come later
    y: pd.Series  # class indices or values, indexed as the frame
    fit: pd.DataFrame
    valid: pd.DataFrame  # early stopping, the binary threshold, and `make tune`'s trial scores


def holdout(
    frame: pd.DataFrame,
    label: str,
    params: TrainParams,
    task: Task = "binary",
    classes: list[str] | None = None,
    *,
    examples: int,
    group: str | None = None,
) -> Holdout:
    """A seeded part of the rows (stratified for classification) held out from the fit: whole
    groups of the column ``group`` (data.group_column) when set, else rows.
    ``examples``: validate.max_failure_examples, the labels a failed encoding names."""
    if (held := math.ceil(params.valid_size * len(frame))) >= len(frame):  # sklearn's bare ValueError
        raise SplitError(
            f"train.valid_size {params.valid_size} of {len(frame)} rows holds out {held}, leaving no row "
            "to fit: add rows to the training part, or lower train.valid_size"
        )
    names = None if task == "regression" else class_names(frame[label], classes)
    spec = base_spec(label, task, names)
    y = pd.Series(spec.encode(frame[label], examples=examples), index=frame.index)
    if task != "regression":
        check_stratifiable(
            y.to_numpy(), spec.classes, params.valid_size, "train.valid_size", ("fit", "validation")
        )
    codes = None if task == "regression" else y.to_numpy()
    if group:  # a group on both sides: early stopping and the threshold judged on entities fitted
        fit_at, valid_at = group_holdout(
            frame[group], codes, names or [], params.valid_size, params.seed, group
        )
    else:  # positions, not rows: the parts are checked for every class by them (same draw as the rows')
        fit_at, valid_at = train_test_split(
            np.arange(len(frame)), test_size=params.valid_size, random_state=params.seed, stratify=codes
        )
    if task != "regression":
        split = f"train.valid_size {params.valid_size} of {len(frame)} rows"
        split += f" (whole groups of data.group_column {group!r})" if group else ""
        fix = f"{HOLDOUT_COST}: {class_fix('raise train.valid_size')}"
        check_parts(y.to_numpy(), spec.classes, {"fit": fit_at, "validation": valid_at}, split, fix)
    fit_rows, valid_rows = frame.iloc[fit_at], frame.iloc[valid_at]
    return Holdout(spec, y, fit_rows, valid_rows)


def fit(rows: Holdout, params: TrainParams) -> tuple[xgb.Booster, ModelSpec]:
    """Fit ``params.xgboost`` on the fit rows, stopping early on the validation rows."""
    spec = rows.spec
    task = spec.task
    estimator = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
    model = estimator(
        **params.xgboost.model_dump(),
        **objective(task, params, rows.y[rows.fit.index], len(spec.classes)),
        enable_categorical=True,
        early_stopping_rounds=params.early_stopping_rounds,
        random_state=params.seed,
    )
    model.fit(
        spec.to_matrix(rows.fit),
        rows.y[rows.fit.index],
        eval_set=[(spec.to_matrix(rows.valid), rows.y[rows.valid.index])],
        verbose=False,
    )
    best = int(model.best_iteration)
    booster = model.get_booster()[: best + 1]  # keep only the trees that helped
    threshold = None
    if task == "binary":
        scores = booster.predict(xgb.DMatrix(spec.to_matrix(rows.valid), enable_categorical=True))
        threshold = choose_threshold(rows.y[rows.valid.index].to_numpy(), scores, params)
    return booster, ModelSpec(spec.features, spec.categories, spec.label, threshold, best, task, spec.classes)


def train(
    frame: pd.DataFrame,
    label: str,
    params: TrainParams,
    task: Task = "binary",
    classes: list[str] | None = None,
    *,
    examples: int,
    group: str | None = None,
) -> tuple[xgb.Booster, ModelSpec]:
    """The local engine's model of ``frame``: ``holdout``, then ``fit``."""
    return fit(holdout(frame, label, params, task, classes, examples=examples, group=group), params)


class Split(TypedDict):
    """``holdout``'s (and ``train``'s) arguments after the frame, as the stage reads them from params."""

    label: str
    params: TrainParams
    task: Task
    classes: list[str] | None
    examples: int
    group: str | None


def split_of(params: Params) -> Split:
    return Split(
        label=params.data.label,
        params=params.train,
        task=params.task,
        classes=params.data.classes,
        examples=params.validate_.max_failure_examples,
        group=params.data.group_column,
    )


def training_frame(params: Params, source: Path) -> pd.DataFrame:
    """The training part of the split as the local engine reads it: the label, the group column
    when set, the features."""
    group = params.data.group_column
    return read_frame(source, [params.data.label, *([group] if group else [])])


def training_rows(params: Params, source: Path) -> tuple[pd.DataFrame, Holdout]:
    """``training_frame`` and its fit and validation rows: ``make tune`` scores its trials on the rows
    the stage (``train``) holds out."""
    frame = training_frame(params, source)
    return frame, holdout(frame, **split_of(params))


def run(params: Params, *, source: Path, model_dir: Path) -> int:
    label, classes, examples = params.data.label, params.data.classes, params.validate_.max_failure_examples
    group = params.data.group_column
    if uses_huber_slope(params.task, params.train):
        check_huber_slope(pd.read_parquet(stage_table(source, [label]), columns=[label])[label], params.train)
    if params.train.engine == "dask":  # binary and regression (params say so)
        from mlapp.stages import train_dask

        booster, spec = train_dask.train(
            source, label, params.train, classes, params.task, examples=examples, group=group
        )
    else:
        booster, spec = train(training_frame(params, source), **split_of(params))
    check_learnt(booster, params.train)
    save(booster, spec, model_dir)
    trees = spec.best_iteration + 1
    decision = {
        "binary": f", threshold {spec.threshold}",
        "multiclass": f", classes {spec.classes}",
        "regression": f", objective reg:{params.train.regression_objective}",
    }
    engine = params.train.engine
    hint = positive_hint(source, params, spec.classes) if spec.task == "binary" else ""
    if trees == params.train.xgboost.n_estimators:  # early stopping never stopped: the cap did
        hint += (
            f"; every tree up to train.xgboost.n_estimators ({trees}) still improved the validation "
            "rows: a larger n_estimators (or learning_rate) may do better"
        )
    print(f"trained {spec.task} ({engine}): {trees} trees{decision.get(spec.task, '')} -> {model_dir}{hint}")
    return 0


def positive_hint(source: Path, params: Params, classes: list[str]) -> str:
    """A word when the positive class, second by sort order (data.classes unset), is the majority:
    "fraud"/"ok" sorts "ok" second, and every threshold metric is then about the wrong class.
    Labels 0/1 and false/true name their positive class themselves: no word (a balanced 0/1
    table, 50.1% ones, was told "the positive class is '1', 50% of rows")."""
    if params.data.classes is not None or classes in (["0", "1"], ["false", "true"]):
        return ""
    column = pd.read_parquet(source, columns=[params.data.label]).iloc[:, 0]
    counts = column.value_counts(dropna=False)  # label_text per distinct label, not per row
    names = label_text(pd.Series(counts.index)).to_numpy()
    share = float(counts[names == classes[1]].sum() / max(len(column), 1))
    if share <= 0.5:
        return ""
    return (
        f"; note: the positive class is {classes[1]!r}, {share:.1%} of rows (second of the sorted "
        f"labels); if {classes[0]!r} is what you predict, set data.classes: [{classes[1]}, {classes[0]}]"
    )
