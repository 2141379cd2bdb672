"""What train refuses before and after fitting, and `make tune` with it: a pseudo-Huber slope too
small for the label (before anything is fitted) and a model none of whose trees split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from mlapp.errors import ParamsError
from mlapp.params import Task, TrainParams


def uses_huber_slope(task: Task, params: TrainParams) -> bool:
    """Whether ``check_huber_slope`` applies: train runs it, and `make tune` for every trial."""
    return task == "regression" and params.regression_objective == "pseudohubererror"


def check_huber_slope(labels: pd.Series, params: TrainParams) -> None:
    """Refuse a huber_slope too small for the label's scale, before anything is fitted.

    Pseudo-Huber's curvature (XGBoost's hessian) at an error r is (1 + (r/slope)^2)^-1.5, and a
    node splits only when each half holds train.xgboost.min_child_weight of it. Starting from the
    median, a label whose errors are hundreds of slopes wide holds less than two halves' worth:
    the trees stay leaves and the model predicts about the median (a rent table, labels ~400 from
    their median, errors ~150, slope 1: 25 trees, 2 of them split, R^2 0.001; slope 5 to 40: R^2
    0.88-0.89). The fit rows are all but train.valid_size of these: the sum is scaled, not exact."""
    values = pd.to_numeric(labels, errors="coerce").dropna().to_numpy(dtype=float)
    errors = values - np.median(values)
    held = float(np.sum((1 + (errors / params.huber_slope) ** 2) ** -1.5)) * (1 - params.valid_size)
    needed = 2 * params.xgboost.min_child_weight
    if held >= needed:
        return
    typical = float(np.median(np.abs(errors)))
    suggestion = float(f"{typical / 10:.2g}")
    raise ParamsError(
        f"train.huber_slope {params.huber_slope:g} is too small for this label (its typical distance "
        f"from the median is {typical:.4g}): pseudo-Huber's curvature over the fit rows would be "
        f"{held:.3g}, under the {needed:g} a tree needs to split once (2 x "
        f"train.xgboost.min_child_weight), so the model would predict about the median. Set "
        f"train.huber_slope near a typical error in the label's units, e.g. {suggestion:g}"
    )


def check_learnt(booster: xgb.Booster, params: TrainParams) -> None:
    """Refuse a model none of whose trees split: it predicts one value for every row. With XGBoost's
    gamma 0 every split that lowers the loss is taken, so what blocks them all is a side holding less
    than min_child_weight of hessian (mtcars, 32 rows, 17 fit: weight 2 let no tree split, ROC AUC 0.5;
    XGBoost's default 1 did, 1.0) or features that never vary."""
    if booster.get_score(importance_type="weight"):
        return
    raise ParamsError(
        "none of the model's trees split: it would predict one value for every row. Each side of a split "
        f"needs train.xgboost.min_child_weight ({params.xgboost.min_child_weight:g}) of XGBoost's hessian "
        "(a row weighs 1 in squared error, p(1 - p) <= 0.25 in a class), more than these rows hold: lower "
        "it (XGBoost's default is 1), add rows, or check that features vary (validate's constant_features)"
    )
