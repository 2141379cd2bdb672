"""Small tables of each task over the sample's features, for unit tests of train/validate/split.

The labels are derived from the features (so a model has something to learn) with a seeded
noise term; the multiclass label is text, the regression label a float.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlapp.params import Params
from mlapp.sample_data import generate

SEGMENTS = ["bronze", "gold", "silver"]  # sorted: the order a model without data.classes uses


def table(task: str, rows: int = 1_500, seed: int = 3) -> pd.DataFrame:
    frame = generate(rows, seed)
    if task == "binary":
        return frame
    rng = np.random.default_rng(seed)
    value = frame["monthly_charges"] * 0.02 + frame["tenure_months"] * 0.03 + rng.normal(0, 0.4, rows)
    if task == "multiclass":
        cut = pd.qcut(value, 3, labels=["bronze", "silver", "gold"]).astype(str)
        return frame.assign(churned=cut)
    return frame.assign(churned=np.round(value * 100, 2))


def params_for(params: Params, task: str) -> Params:
    """The shipped params switched to ``task`` (gate, decay and tune metrics of that task)."""
    primary = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}[task]
    gate = params.gate.model_copy(update={"primary_metric": primary})
    monitor = params.monitor.model_copy(update={"decay_tolerance": {primary: 0.05}})
    tune = params.tune.model_copy(update={"metric": primary})
    return params.model_copy(update={"task": task, "gate": gate, "monitor": monitor, "tune": tune})
