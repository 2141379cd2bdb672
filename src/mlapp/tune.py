"""``make tune``: a bounded Optuna search over ``train.xgboost`` (and, for the tweedie loss, its
``train.tweedie_variance_power``), proposed as a params.yaml diff: ``tune.space`` names each.

Only the training part of the split is read, divided into fit and validation rows by the train
stage's own ``holdout`` (whole groups of ``data.group_column`` when set) and fitted by its own
``fit``: a trial's model is the one ``dvc repro`` trains with the trial's values (with
``train.engine`` dask, the local engine's), and values train would refuse (``check_huber_slope``)
are refused here too: params.yaml's own stop the search, a trial's are skipped. Each trial is
scored on the validation rows with ``tune.metric``, a metric of the task as evaluate computes it
(``mlapp.metrics``, which also gives its direction): the test set, which the PR report and the
gate judge, never influences the choice. Each trial is an MLflow child run of one parent run; the
best values are written into ``params.yaml`` in place (comments and order kept, ruamel.yaml round
trip) for review in an ordinary pull request, where CI then retrains and reports on the test set
as for any other change.

The validation rows also drive early stopping (and the binary threshold), so the best trial's
validation score is optimistic; the PR report's test-set numbers are the ones to trust.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import metrics
from mlapp.errors import ParamsError, UserError
from mlapp.files import write_text
from mlapp.model import Model, ModelSpec
from mlapp.params import LOG_SCALE, TRAIN_OWN, Params, TrainParams, Tunable, TuneParams, tuned_setting
from mlapp.stages.train import Holdout, fit, training_rows
from mlapp.stages.train_checks import check_huber_slope, uses_huber_slope


@dataclass(frozen=True)
class Result:
    best_value: float
    best_params: dict[str, Any]
    trials: int
    parent_run_id: str
    current_value: float | None  # trial 0: params.yaml's own values, the score to beat
    capped_at: int | None  # the best trial grew every tree up to this n_estimators: the cap stopped it
    refused: int  # trials not scored: the train stage would refuse their values (check_huber_slope)


def _suggest(
    trial: Any, space: Mapping[Tunable, tuple[float, float]], current: dict[str, Any]
) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name, (low, high) in space.items():
        if isinstance(current[name], int) and not isinstance(current[name], bool):
            chosen[name] = trial.suggest_int(name, int(low), int(high))
        else:
            chosen[name] = trial.suggest_float(name, low, high, log=name in LOG_SCALE)
    return chosen


def _current(train: TrainParams) -> dict[str, Any]:
    """params.yaml's value of every name tune.space may hold."""
    return {**train.xgboost.model_dump(), **{name: getattr(train, name) for name in TRAIN_OWN}}


def _with(params: Params, values: Mapping[str, Any]) -> TrainParams:
    """``train`` with these values of tune.space's names (train's own, and train.xgboost's)."""
    own = {name: value for name, value in values.items() if name in TRAIN_OWN}
    xgboost = {name: value for name, value in values.items() if name not in TRAIN_OWN}
    return params.train.model_copy(update={**own, "xgboost": params.train.xgboost.model_copy(update=xgboost)})


def score(params: Params, rows: Holdout, values: Mapping[str, Any]) -> tuple[float, int]:
    """``tune.metric`` on the validation rows of the model train fits with these xgboost values,
    and its tree count."""
    booster, spec = fit(rows, _with(params, values))
    y = rows.y[rows.valid.index].to_numpy()
    scores = Model(booster, spec, "").scores(rows.valid)
    return metric_value(params.tune.metric, spec, y, scores), spec.best_iteration + 1


def metric_value(metric: str, spec: ModelSpec, y: np.ndarray, scores: np.ndarray) -> float:
    """``metric`` of a trial's model on the validation rows; a UserError naming the rows where it
    has no value (rmsle of a prediction at most -1: validate refused such labels already), which
    stops the search as any failed trial does, rather than a KeyError."""
    values = metrics.task_metrics(spec.task, y, scores, spec.threshold, spec.classes)
    if metric not in values:
        why = metrics.rmsle_undefined({"validation label": y, "prediction": scores})
        raise UserError(
            f"tune.metric {metric}: {why} (0-based validation rows): tune on rmse or mae; for a label "
            "that is never negative, train.regression_objective tweedie or gamma predicts above 0"
        )
    return float(values[metric])


def search(params: Params, source: Path) -> Result:
    """Trial 0 (params.yaml's values), then up to tune.trials TPE draws within tune.timeout_s, each
    an MLflow child run of one "tune" run; the best values (rounded for review) and the search's
    account of them."""
    import mlflow
    import optuna

    from mlapp import tracking

    tune: TuneParams = params.tune
    frame, rows = training_rows(params, source)
    # The train stage's own checks of its params against the labels: params.yaml's values first
    # (train would refuse them: so does tune), then each trial's (a min_child_weight the slope
    # cannot reach is skipped, never scored nor written into params.yaml).
    labels = frame[params.data.label]  # as train reads them: the whole training part
    huber = uses_huber_slope(params.task, params.train)
    if huber:
        check_huber_slope(labels, params.train)
    base = _current(params.train)
    higher = metrics.higher_is_better(tune.metric)

    tracking.connect(params.mlflow)
    tracking.use_experiment(params.mlflow.experiment)
    # ERROR: a failed trial's exception stops the search and the CLI shows it; Optuna's warning
    # would repeat it as a traceback, for Ctrl-C too.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        direction="maximize" if higher else "minimize", sampler=optuna.samplers.TPESampler(seed=tune.seed)
    )

    objective = _objective(params, rows, base, labels if huber else None)
    tags = {"mlapp.kind": "tune", "tune.metric": tune.metric, **tracking.experiment_tags()}
    with mlflow.start_run(run_name="tune", tags=tags) as parent:
        mlflow.log_params({"tune.trials": tune.trials, "tune.timeout_s": tune.timeout_s, "rows": len(frame)})
        # Trial 0 scores params.yaml's values: a search that finds nothing better proposes no
        # change, rather than the best of a few random draws (worse than the current values).
        study.enqueue_trial({name: base[name] for name in tune.space})
        study.optimize(objective, n_trials=tune.trials, timeout=tune.timeout_s)
        value, winner = _winner(study, higher)
        mlflow.log_metric(f"best_valid_{tune.metric}", value)
        best = {k: _tidy(v) for k, v in winner.params.items()}
        mlflow.log_params({f"best.{k}": v for k, v in best.items()})
    cap = {**base, **winner.params}["n_estimators"]
    capped = cap if winner.user_attrs.get("trees") == cap else None
    refused = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return Result(value, best, len(study.trials), parent.info.run_id, study.trials[0].value, capped, refused)


def _objective(
    params: Params, rows: Holdout, base: dict[str, Any], huber_labels: pd.Series | None
) -> Callable[[Any], float]:
    """A trial's score, logged as a child run; with ``huber_labels`` (train.huber_slope in use),
    values the train stage would refuse are pruned: never scored nor written into params.yaml."""
    import mlflow
    import optuna

    tune = params.tune

    def objective(trial: optuna.Trial) -> float:
        chosen = _suggest(trial, tune.space, base)
        if huber_labels is not None:
            try:
                check_huber_slope(huber_labels, _with(params, chosen))
            except ParamsError as exc:
                raise optuna.TrialPruned(str(exc)) from exc
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            value, trees = score(params, rows, chosen)
            trial.set_user_attr("trees", trees)
            mlflow.log_params({tuned_setting(k): v for k, v in chosen.items()})
            mlflow.log_metrics({f"valid_{tune.metric}": value, "trees": trees})
        return value

    return objective


def _winner(study: Any, higher: bool) -> tuple[float, Any]:
    """The best scored trial and its score. The first of equal scores wins: a trial that only ties
    trial 0 (accuracy on a few hundred rows ties often) is no reason to change params.yaml."""
    scored = [(float(t.value), t) for t in study.trials if t.value is not None]
    return (max if higher else min)(scored, key=lambda pair: pair[0])


def _tidy(value: Any) -> Any:
    """Four significant digits: a reviewable diff, not 0.07312946571."""
    if isinstance(value, float) and value != 0:
        return round(value, 3 - math.floor(math.log10(abs(value))))
    return value


def write_best(params_path: Path, best: dict[str, Any]) -> list[str]:
    """Set each searched setting (``train.xgboost.<name>``, ``train.<name>``) in params.yaml,
    keeping comments; returns what changed."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip mode: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long comment lines
    # ruamel writes None as an empty value; keep the file's spelling (`scheduler: null`).
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(params_path.read_text())
    train = document["train"]
    sections = {name: train if name in TRAIN_OWN else train["xgboost"] for name in best}
    changed = [f"{tuned_setting(k)}: {sections[k][k]} -> {v}" for k, v in best.items() if sections[k][k] != v]
    for key, value in best.items():
        sections[key][key] = value
    text = io.StringIO()  # the whole file first: a failure or Ctrl-C leaves params.yaml as it was
    yaml.dump(document, text)
    write_text(text.getvalue(), params_path)
    return changed
