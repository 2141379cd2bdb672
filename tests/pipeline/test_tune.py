"""`mlapp pipeline tune` per task on small tables: the train stage's own fit, the task's metric.

The slow end-to-end run (`make tune`, binary, a params.yaml diff) is tests/team/test_tune.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlapp import metrics, tune
from mlapp.cli import cli
from mlapp.errors import ParamsError
from mlapp.model import Model
from mlapp.params import Params, load_params
from mlapp.stages.train import holdout, train
from mlapp.tables import read_frame, write_frame
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = load_params(REPO / "params.yaml")
LOGGED = pytest.mark.usefixtures("mlflow_store")  # a tuning run is logged to MLflow
EXAMPLES = PARAMS.validate_.max_failure_examples


def _params(task: str, metric: str, trials: int, space: dict, **xgboost: float) -> Params:
    """Small and fast: 40 trees at most, the given xgboost values as params.yaml's own."""
    base = params_for(PARAMS, task)
    values = {"n_estimators": 40, "max_depth": 3, **xgboost}
    train_params = base.train.model_copy(update={"xgboost": base.train.xgboost.model_copy(update=values)})
    tune_params = base.tune.model_copy(update={"metric": metric, "trials": trials, "space": space})
    return base.model_copy(update={"train": train_params, "tune": tune_params})


def _source(task: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{task}.parquet"
    write_frame(table(task, 600), path)
    return path


def _tune_cli(tmp_path: Path, edit: Callable[[dict], None], task: str, trials: int) -> Result:
    """`mlapp pipeline tune` on the repository's params.yaml changed by ``edit``; it must exit 0."""
    from ruamel.yaml import YAML

    yaml = YAML()
    document = yaml.load((REPO / "params.yaml").read_text())
    edit(document)
    with (path := tmp_path / "params.yaml").open("w") as handle:
        yaml.dump(document, handle)
    source = _source(task, tmp_path)
    argv = ["--params", str(path), "pipeline", "tune", "--input", str(source), "--trials", str(trials)]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _stage_score(params: Params, source: Path) -> float:
    """tune.metric of the model the train stage fits with params.yaml's values, on its validation rows."""
    frame = read_frame(source)
    booster, spec = train(frame, "churned", params.train, params.task, examples=EXAMPLES)
    rows = holdout(frame, "churned", params.train, params.task, examples=EXAMPLES)
    y = rows.y[rows.valid.index].to_numpy()
    scores = Model(booster, spec, "").scores(rows.valid)
    return metrics.task_metrics(params.task, y, scores, spec.threshold, spec.classes)[params.tune.metric]


@LOGGED
@pytest.mark.parametrize(
    ("task", "metric"),
    [("multiclass", "log_loss"), ("regression", "r2")],  # one metric to minimize, one to maximize
)
def test_tune_improves_on_the_current_values_of_each_task(task: str, metric: str, tmp_path: Path) -> None:
    """learning_rate 0.01 for at most 40 trees underfits: the search finds better values, scored
    in the metric's direction; trial 0 is exactly the train stage's model with the current values."""
    space = {"learning_rate": (0.01, 0.3), "max_depth": (2.0, 5.0)}
    params = _params(task, metric, 4, space, learning_rate=0.01)
    source = _source(task, tmp_path)
    result = tune.search(params, source)

    assert result.trials == 4
    assert result.current_value == _stage_score(params, source)
    better = (
        result.best_value > result.current_value
        if metric == "r2"
        else result.best_value < result.current_value
    )
    assert better, result
    assert result.best_params["learning_rate"] > 0.01

    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name(params.mlflow.experiment).experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert len(children) == 4 and all(f"valid_{metric}" in r.data.metrics for r in children)
    trial0 = next(r for r in children if r.info.run_name == "trial-0")
    assert trial0.data.metrics[f"valid_{metric}"] == result.current_value
    assert trial0.data.params["train.xgboost.learning_rate"] == "0.01"

    written = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", written)
    changed = tune.write_best(written, result.best_params)
    assert any(line.startswith("train.xgboost.learning_rate: ") for line in changed), changed
    assert load_params(written).train.xgboost.learning_rate == result.best_params["learning_rate"]


@LOGGED
def test_trials_that_only_tie_the_current_values_change_nothing(tmp_path: Path) -> None:
    """accuracy on 120 validation rows does not move when reg_lambda moves by under 1%: the
    tying trials are no improvement, so params.yaml's values stay (the file is not rewritten)."""
    current = PARAMS.train.xgboost.reg_lambda  # the shipped file's: write_best compares with it
    params = _params("multiclass", "accuracy", 3, {"reg_lambda": (current, current * 1.01)})
    source = _source("multiclass", tmp_path)
    result = tune.search(params, source)
    assert result.trials == 3
    assert result.best_value == result.current_value == _stage_score(params, source)
    assert result.best_params == {"reg_lambda": current}
    written = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", written)
    text = written.read_text()
    assert tune.write_best(written, result.best_params) == []
    assert written.read_text() == text


@LOGGED
def test_tune_searches_n_estimators_and_says_when_the_cap_stopped_the_best_trial(tmp_path: Path) -> None:
    """learning_rate 0.01 improves with every tree: a cap of 10 or 20 trees stops every trial, so
    the result names the cap; searched, n_estimators stays an integer."""
    params = _params(
        "regression", "r2", 2, {"n_estimators": (10.0, 20.0)}, learning_rate=0.01, n_estimators=10
    )
    result = tune.search(params, _source("regression", tmp_path))
    chosen = result.best_params["n_estimators"]
    assert isinstance(chosen, int) and 10 <= chosen <= 20
    assert result.capped_at == chosen


@LOGGED
def test_the_cli_tells_when_the_cap_stopped_the_best_trial(tmp_path: Path) -> None:
    """Through `mlapp pipeline tune`: one trial of params.yaml's values, capped at 5 trees."""

    def capped(document: dict) -> None:
        document["train"]["xgboost"].update(n_estimators=5, learning_rate=0.01)

    result = _tune_cli(tmp_path, capped, "binary", trials=1)
    assert "the best trial grew all 5 trees (train.xgboost.n_estimators)" in result.output
    assert "add `n_estimators: [5, 20]` to tune.space" in result.output


@LOGGED
def test_no_cap_note_when_early_stopping_stopped_the_best_trial(tmp_path: Path) -> None:
    """learning_rate 0.3 on 600 rows: early stopping ends well before 400 trees."""
    params = _params("binary", "roc_auc", 1, {"max_depth": (2.0, 4.0)}, learning_rate=0.3, n_estimators=400)
    result = tune.search(params, _source("binary", tmp_path))
    assert result.capped_at is None


def test_params_yaml_is_whole_when_writing_the_best_values_fails(tmp_path: Path) -> None:
    """The new params.yaml is written whole or not at all: a value YAML cannot write (or Ctrl-C)
    mid-write left it truncated, every tunable lost."""
    shutil.copy(REPO / "params.yaml", path := tmp_path / "params.yaml")
    before = path.read_bytes()
    with pytest.raises(Exception, match="cannot represent"):
        tune.write_best(path, {"max_depth": object()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # no temporary file left


@LOGGED
def test_ctrl_c_in_a_trial_leaves_params_yaml_and_says_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C mid-trial (KeyboardInterrupt in the fit): exit 130, one line, no Optuna traceback
    of the failed trial, params.yaml as it was (click's own handling said "Aborted!", exit 1:
    the documented "no")."""
    from mlapp.cli import main
    from mlapp.errors import EXIT_INTERRUPTED

    shutil.copy(REPO / "params.yaml", path := tmp_path / "params.yaml")
    before = path.read_bytes()
    source = _source("binary", tmp_path)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "score", interrupted)
    argv = ["mlapp", "--params", str(path), "pipeline", "tune", "--input", str(source), "--trials", "3"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err.strip() == "error: interrupted", err  # on its own line, after the terminal's ^C
    assert path.read_bytes() == before


def _huber(slope: float, trials: int, space: dict, min_child_weight: float = 2.0) -> Params:
    """Regression on pseudo-Huber: this 600-row table's labels lie ~60 from their median, so
    slope 1 holds a curvature of about 5.5 over the fit rows (train splits from min_child_weight
    2, needing 4, up to about 2.7) and slope 0.5 about 2.8 (under the 4 min_child_weight 2 needs)."""
    params = _params("regression", "r2", trials, space, min_child_weight=min_child_weight)
    train = params.train.model_copy(update={"regression_objective": "pseudohubererror", "huber_slope": slope})
    return params.model_copy(update={"train": train})


@LOGGED
def test_tune_refuses_the_huber_slope_train_refuses(tmp_path: Path) -> None:
    """params.yaml's own values that the train stage refuses (a slope too small for the label):
    tune refused nothing, searched and proposed a diff whose `dvc repro` then failed at train."""
    params = _huber(0.5, 2, {"learning_rate": (0.01, 0.3)})
    with pytest.raises(ParamsError, match=r"^train\.huber_slope 0\.5 is too small for this label"):
        tune.search(params, _source("regression", tmp_path))


@LOGGED
@pytest.mark.filterwarnings("ignore:Fixed parameter min_child_weight")  # trial 0: the current 2.0
def test_tune_skips_trials_whose_min_child_weight_train_would_refuse(tmp_path: Path) -> None:
    """Every min_child_weight of [4, 10] needs a curvature of at least 8 at slope 1 (the table has
    about 5.5): train would refuse each, so tune scores none of them (each was a scored MLflow
    child run before, and could be written into params.yaml) and keeps the current value."""
    params = _huber(1.0, 3, {"min_child_weight": (4.0, 10.0)})
    source = _source("regression", tmp_path)
    result = tune.search(params, source)
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name(params.mlflow.experiment).experiment_id])
    scored = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert [r.data.params["train.xgboost.min_child_weight"] for r in scored] == ["2.0"]
    assert result.best_params == {"min_child_weight": 2.0}
    assert result.trials == 3 and result.refused == 2, result


@LOGGED
@pytest.mark.filterwarnings("ignore:Fixed parameter min_child_weight")
def test_the_cli_says_how_many_trials_train_would_refuse(tmp_path: Path) -> None:
    """Through `mlapp pipeline tune` on a regression params.yaml: the skipped trial is named."""

    def huber(document: dict) -> None:
        document["task"] = "regression"
        document["gate"]["primary_metric"] = document["tune"]["metric"] = "rmse"
        document["monitor"]["decay_tolerance"] = {"rmse": 0.05}
        document["train"].update(regression_objective="pseudohubererror", huber_slope=1.0)
        document["train"]["xgboost"].update(n_estimators=40, max_depth=3)
        document["tune"]["space"] = {"min_child_weight": [4.0, 10.0]}

    result = _tune_cli(tmp_path, huber, "regression", trials=2)
    assert "note: 1 trial(s) not scored: train would refuse their min_child_weight" in result.output
    assert "no change: the current values are the best found" in result.output
