"""Stage 3: fit an XGBoost classifier (scikit-learn API) and save it without pickle.

A seeded, stratified part of the training rows is held out for early stopping and
for choosing the decision threshold, so the test set stays untouched until evaluate.
The thread count is a parameter: it fixes floating-point summation order, which is
what makes the model bytes identical from run to run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split

from mlapp.model import ModelSpec, save
from mlapp.params import Params, TrainParams
from mlapp.schema import FEATURES, categories, feature_schema
from mlapp.tables import read_frame


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, params: TrainParams) -> float:
    if params.threshold_metric == "fixed":
        return params.fixed_threshold
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return round(float(thresholds[int(np.argmax(f1[:-1]))]), 6)


def base_spec(label: str) -> ModelSpec:
    """Features and category levels from the schema; threshold and trees are set after fitting."""
    return ModelSpec(
        features=list(FEATURES),
        categories=categories(feature_schema()),
        label=label,
        threshold=0.5,
        best_iteration=0,
    )


def train(frame: pd.DataFrame, label: str, params: TrainParams) -> tuple[xgb.Booster, ModelSpec]:
    spec = base_spec(label)
    fit_rows, valid_rows = train_test_split(
        frame, test_size=params.valid_size, random_state=params.seed, stratify=frame[label]
    )
    classifier = xgb.XGBClassifier(
        **params.xgboost.model_dump(),
        objective="binary:logistic",
        eval_metric="logloss",
        enable_categorical=True,
        early_stopping_rounds=params.early_stopping_rounds,
        random_state=params.seed,
    )
    classifier.fit(
        spec.to_matrix(fit_rows),
        fit_rows[label],
        eval_set=[(spec.to_matrix(valid_rows), valid_rows[label])],
        verbose=False,
    )
    best = int(classifier.best_iteration)
    booster = classifier.get_booster()[: best + 1]  # keep only the trees that helped
    scores = booster.predict(xgb.DMatrix(spec.to_matrix(valid_rows), enable_categorical=True))
    threshold = choose_threshold(valid_rows[label].to_numpy(), scores, params)
    return booster, ModelSpec(spec.features, spec.categories, label, threshold, best)


def run(params: Params, *, source: Path, model_dir: Path) -> int:
    if params.train.engine == "dask":
        from mlapp.stages import train_dask

        booster, spec = train_dask.train(source, params.data.label, params.train)
    else:
        booster, spec = train(read_frame(source), params.data.label, params.train)
    save(booster, spec, model_dir)
    trees = spec.best_iteration + 1
    print(f"trained ({params.train.engine}): {trees} trees, threshold {spec.threshold} -> {model_dir}")
    return 0
