"""``make tune``: a bounded Optuna search over ``train.xgboost``, proposed as a params.yaml diff.

Only the training part of the split is read, divided into fit and validation rows exactly as
the train stage divides it (``train.valid_size``, ``train.seed``, stratified): the test set,
which the PR report and the gate judge, never influences the choice. Each trial is an MLflow
child run of one parent run; the best values are written into ``params.yaml`` in place
(comments and order kept, ruamel.yaml round trip) for review in an ordinary pull request,
where CI then retrains and reports on the test set as for any other change.

The validation rows also drive early stopping, so the best trial's validation score is
optimistic; the PR report's test-set numbers are the ones to trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from mlapp.errors import UserError
from mlapp.params import Params, TunableXGBoost, TuneParams
from mlapp.stages.train import base_spec
from mlapp.tables import read_frame

SCORERS = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score, "log_loss": log_loss}
# Searched on a log scale: their effect is multiplicative.
LOG_SCALE = {"learning_rate", "reg_lambda", "min_child_weight"}


@dataclass(frozen=True)
class Result:
    best_value: float
    best_params: dict[str, Any]
    trials: int
    parent_run_id: str
    current_value: float | None  # trial 0: params.yaml's own values, the score to beat


def _suggest(
    trial: Any, space: Mapping[TunableXGBoost, tuple[float, float]], current: dict[str, Any]
) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name, (low, high) in space.items():
        if isinstance(current[name], int) and not isinstance(current[name], bool):
            chosen[name] = trial.suggest_int(name, int(low), int(high))
        else:
            chosen[name] = trial.suggest_float(name, low, high, log=name in LOG_SCALE)
    return chosen


def search(params: Params, source: Path) -> Result:
    import mlflow
    import optuna

    from mlapp import tracking

    if params.task != "binary":  # its scorers, class encoding and stratification are binary ones
        raise UserError(
            f"`tune` searches binary models only; task is {params.task}: sweep train.xgboost with "
            "`dvc exp run --queue -S ...` instead (README)"
        )
    tune: TuneParams = params.tune
    train = params.train
    frame = read_frame(source)
    label = params.data.label
    spec = base_spec(label)
    fit, valid = train_test_split(
        frame, test_size=train.valid_size, random_state=train.seed, stratify=frame[label]
    )
    fit_x, valid_x = spec.to_matrix(fit), spec.to_matrix(valid)
    fit_y, valid_y = spec.encode(fit[label]), spec.encode(valid[label])  # class indices, as train
    base = train.xgboost.model_dump()
    scorer = SCORERS[tune.metric]

    tracking.connect(params.mlflow)
    mlflow.set_experiment(params.mlflow.experiment)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize" if tune.metric == "log_loss" else "maximize",
        sampler=optuna.samplers.TPESampler(seed=tune.seed),
    )

    def objective(trial: optuna.Trial) -> float:
        chosen = _suggest(trial, tune.space, base)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            classifier = xgb.XGBClassifier(
                **{**base, **chosen},
                objective="binary:logistic",
                eval_metric="logloss",
                enable_categorical=True,
                early_stopping_rounds=train.early_stopping_rounds,
                random_state=train.seed,
            )
            classifier.fit(fit_x, fit_y, eval_set=[(valid_x, valid_y)], verbose=False)
            scores = classifier.predict_proba(valid_x)[:, 1]
            value = float(scorer(valid_y, np.asarray(scores)))
            mlflow.log_params({f"train.xgboost.{k}": v for k, v in chosen.items()})
            mlflow.log_metrics({f"valid_{tune.metric}": value, "trees": classifier.best_iteration + 1})
        return value

    tags = {"mlapp.kind": "tune", "tune.metric": tune.metric, **tracking.experiment_tags()}
    with mlflow.start_run(run_name="tune", tags=tags) as parent:
        mlflow.log_params({"tune.trials": tune.trials, "tune.timeout_s": tune.timeout_s, "rows": len(frame)})
        # Trial 0 scores params.yaml's values: a search that finds nothing better proposes no
        # change, rather than the best of a few random draws (worse than the current values).
        study.enqueue_trial({name: base[name] for name in tune.space})
        study.optimize(objective, n_trials=tune.trials, timeout=tune.timeout_s)
        mlflow.log_metric(f"best_valid_{tune.metric}", study.best_value)
        best = {k: _tidy(v) for k, v in study.best_params.items()}
        mlflow.log_params({f"best.{k}": v for k, v in best.items()})
    return Result(study.best_value, best, len(study.trials), parent.info.run_id, study.trials[0].value)


def _tidy(value: Any) -> Any:
    """Four significant digits: a reviewable diff, not 0.07312946571."""
    if isinstance(value, float) and value != 0:
        return round(value, 3 - math.floor(math.log10(abs(value))))
    return value


def write_best(params_path: Path, best: dict[str, Any]) -> list[str]:
    """Set ``train.xgboost.<name>`` in params.yaml, keeping comments; returns what changed."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip mode: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long comment lines
    # ruamel writes None as an empty value; keep the file's spelling (`scheduler: null`).
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(params_path.read_text())
    section = document["train"]["xgboost"]
    changed = [f"train.xgboost.{k}: {section[k]} -> {v}" for k, v in best.items() if section[k] != v]
    for key, value in best.items():
        section[key] = value
    with params_path.open("w") as handle:
        yaml.dump(document, handle)
    return changed
