"""Regression labels outside what the chosen loss or a watched metric can take: named by validate
before train or evaluate meets them (XGBoost stops train on the first; rmsle has no value)."""

from __future__ import annotations

import pandas as pd

from mlapp.params import Params
from mlapp.problem_row import Problem

# The labels a log-link loss can fit: XGBoost's gamma needs every one above 0, tweedie none below.
_DOMAINS = {"gamma": ("above 0", lambda v: v <= 0), "tweedie": ("at least 0", lambda v: v < 0)}


def problems(labels: pd.Series, params: Params) -> list[Problem]:
    """Present regression labels the loss cannot fit, or that a metric the team watches cannot take."""
    values = pd.to_numeric(labels, errors="coerce")
    return [*_outside_objective(values, params), *_outside_rmsle(values, params)]


def _outside_objective(values: pd.Series, params: Params) -> list[Problem]:
    loss = params.train.regression_objective
    if loss not in _DOMAINS:
        return []
    rule, breaks = _DOMAINS[loss]
    bad = values[breaks(values)]
    if bad.empty:
        return []
    other = "tweedie (0 allowed) or " if loss == "gamma" and bad.min() == 0 else ""
    check = (
        f"{rule} (train.regression_objective {loss} has a log link: use {other}squarederror/absoluteerror)"
    )
    return [_problem(params, check, bad)]


def _outside_rmsle(values: pd.Series, params: Params) -> list[Problem]:
    """rmsle, of log(1 + label), has no value where a label is at most -1: a gate, a search or a
    decay watch on it could never be judged, so it is refused here rather than at the PR report."""
    watching = [
        setting
        for setting, metric in (
            ("gate.primary_metric", params.gate.primary_metric),
            ("tune.metric", params.tune.metric),
        )
        if metric == "rmsle"
    ] + (["monitor.decay_tolerance"] if "rmsle" in params.monitor.decay_tolerance else [])
    bad = values[values <= -1]
    if not watching or bad.empty:
        return []
    named = (
        f"{', '.join(watching[:-1])} and {watching[-1]} name it"
        if watching[1:]
        else f"{watching[0]} names it"
    )
    check = f"above -1 (rmsle, of log(1 + label), is undefined below: {named}; watch rmse or mae instead)"
    return [_problem(params, check, bad)]


def _problem(params: Params, check: str, bad: pd.Series) -> Problem:
    shown = bad.iloc[: params.validate_.max_failure_examples]
    return Problem(params.data.label, check, len(bad), shown.tolist(), [int(r) for r in shown.index])
