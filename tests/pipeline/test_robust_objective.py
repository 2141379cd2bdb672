"""train.regression_objective: a robust loss for a label with outliers, wired into train and tune.

How much it helps is measured in benchmarks/robust_objective.py (several seeds, spread); here only
what cannot flake: on a seeded table where a tenth of the training labels are gross errors, the
robust fits land far closer to the true values than squared error, whose predictions the errors
drag up (the models are byte-deterministic, so these numbers are fixed for the seed).
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlapp.errors import ParamsError
from mlapp.model import Model, load, save
from mlapp.params import load_params
from mlapp.stages import train as train_stage
from mlapp.stages.train import holdout, objective, train
from mlapp.tune import score
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = params_for(load_params(REPO / "params.yaml"), "regression")


def _with(**train: object):
    return PARAMS.train.model_copy(update=train)


@pytest.fixture(scope="module")
def contaminated() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit rows with a tenth of the labels off by +20,000 (typos, a unit slip: the label's own
    spread is a few hundred), and clean rows of the same process to judge the models on."""
    frame = table("regression", 2_000, seed=5)
    fit, judge = frame.iloc[:1_500].copy(), frame.iloc[1_500:]
    rng = np.random.default_rng(5)
    wrong = rng.random(len(fit)) < 0.1
    fit.loc[wrong, "churned"] += 20_000.0
    return fit, judge


def _mae(fit: pd.DataFrame, judge: pd.DataFrame, **train_params: object) -> float:
    booster, spec = train(
        fit, "churned", _with(**train_params), "regression", examples=PARAMS.validate_.max_failure_examples
    )
    predicted = Model(booster, spec, "").scores(judge)
    return float(np.mean(np.abs(predicted - judge["churned"].to_numpy())))


def test_a_robust_objective_is_not_dragged_by_outliers(contaminated) -> None:
    fit, judge = contaminated
    squared = _mae(fit, judge, regression_objective="squarederror")
    absolute = _mae(fit, judge, regression_objective="absoluteerror")
    huber = _mae(fit, judge, regression_objective="pseudohubererror", huber_slope=50.0)
    spread = float(judge["churned"].std())
    assert squared > spread  # the gross errors moved squared error's predictions off the data
    assert absolute < squared / 3 and huber < squared / 3, (squared, absolute, huber)


@pytest.mark.parametrize(
    ("loss", "metric"), [("squarederror", "rmse"), ("pseudohubererror", "mphe"), ("absoluteerror", "mae")]
)
def test_the_booster_minimises_the_chosen_loss_and_stops_on_its_metric(loss: str, metric: str) -> None:
    frame = table("regression", 600, seed=2)
    booster, _ = train(
        frame,
        "churned",
        _with(regression_objective=loss, huber_slope=30.0),
        "regression",
        examples=PARAMS.validate_.max_failure_examples,
    )
    learner = json.loads(booster.save_config())["learner"]
    assert learner["objective"]["name"] == f"reg:{loss}"
    assert [m["name"] for m in learner["metrics"]] == [metric]
    if loss == "pseudohubererror":
        assert float(learner["objective"]["pseudo_huber_param"]["huber_slope"]) == 30.0
    assert objective("binary", _with(regression_objective=loss)) == {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
    }


def test_tune_trials_train_with_the_chosen_loss(contaminated) -> None:
    """`make tune` fits each trial with train's own fit: on contaminated validation rows the
    absolute-error trial scores the lower MAE (squared error's predictions sit ~2,000 too high)."""
    tune = PARAMS.tune.model_copy(update={"metric": "mae"})
    maes = {}
    for loss in ("squarederror", "absoluteerror"):
        params = PARAMS.model_copy(update={"train": _with(regression_objective=loss), "tune": tune})
        rows = holdout(
            contaminated[0],
            "churned",
            params.train,
            "regression",
            examples=PARAMS.validate_.max_failure_examples,
        )
        maes[loss], _ = score(params, rows, {"max_depth": 3})
    assert maes["absoluteerror"] < maes["squarederror"], maes


def test_a_robust_objective_under_a_classification_task_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"]["regression_objective"] = "absoluteerror"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as refused:
        load_params(path)
    assert str(refused.value) == (
        f"{path} is invalid: train.regression_objective absoluteerror is a loss for task regression; task "
        "binary trains with XGBoost's log loss whatever it says: set it to squarederror (or task to "
        "regression)"
    )


def test_dask_trains_binary_and_regression_and_refuses_multiclass(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"]["engine"] = "dask"
    raw.update(task="multiclass")
    raw["data"]["classes"] = None
    for metric in ("gate", "tune"):
        raw[metric]["primary_metric" if metric == "gate" else "metric"] = "accuracy"
    raw["monitor"]["decay_tolerance"] = {"accuracy": 0.05}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"train\.engine dask trains binary and regression models: use"):
        load_params(path)
    path.write_text(
        path.read_text().replace("task: multiclass", "task: regression").replace("accuracy", "mae")
    )
    assert load_params(path).train.engine == "dask"


def test_the_benchmark_fits_every_loss_with_trains_own_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    # benchmarks/robust_objective.py calls train directly: a changed signature broke it silently.
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling module, as when run
    bench = runpy.run_path(str(REPO / "benchmarks" / "robust_objective.py"))
    examples = PARAMS.validate_.max_failure_examples
    fits = bench["one_seed"](1, 400, "unit_slip", PARAMS.train, examples)
    assert sorted(f["loss"] for f in fits) == sorted(bench["LOSSES"])
    assert all(np.isfinite(f["mae_vs_signal"]) and f["trees"] >= 1 for f in fits)


def _r2(model_dir: Path, frame: pd.DataFrame) -> float:
    predicted = load(model_dir).scores(frame)
    actual = frame["churned"].to_numpy()
    return float(1 - np.sum((predicted - actual) ** 2) / np.sum((actual - actual.mean()) ** 2))


def test_a_huber_slope_too_small_for_the_label_is_refused_with_one_that_learns(tmp_path: Path) -> None:
    """A label in the thousands with errors of hundreds (a rent, a price) and the shipped slope 1:
    pseudo-Huber's curvature is too small for a tree to split, so the model was the median
    (R^2 about 0) and train said nothing. Now train refuses before fitting, and the slope it
    suggests trains a model that learns."""
    frame = table("regression", 2_000, seed=5)
    frame["churned"] *= 10
    source = tmp_path / "train.parquet"
    frame.to_parquet(source)
    starved = _with(regression_objective="pseudohubererror", huber_slope=1.0)
    booster, spec = train(
        frame, "churned", starved, "regression", examples=PARAMS.validate_.max_failure_examples
    )
    save(booster, spec, tmp_path / "starved")
    assert _r2(tmp_path / "starved", frame) < 0.1  # what the check is for: a model that learned nothing
    model_dir = tmp_path / "models"
    with pytest.raises(ParamsError) as refused:
        train_stage.run(PARAMS.model_copy(update={"train": starved}), source=source, model_dir=model_dir)
    message = str(refused.value)
    assert message.startswith("train.huber_slope 1 is too small for this label"), message
    assert not model_dir.exists()  # refused before anything was fitted or written
    suggested = float(message.rsplit("e.g. ", 1)[1])
    fitting = _with(regression_objective="pseudohubererror", huber_slope=suggested)
    assert (
        train_stage.run(PARAMS.model_copy(update={"train": fitting}), source=source, model_dir=model_dir) == 0
    )
    assert _r2(model_dir, frame) > 0.5, suggested


def test_a_model_whose_trees_never_split_is_refused_naming_min_child_weight(tmp_path: Path) -> None:
    """mtcars' 32 rows (17 fit rows) under min_child_weight 2: no tree split, every row got one
    probability (ROC AUC 0.5) and train said nothing. Here 30 rows weigh 24 in squared error's
    hessian, under a weight of 30 on each side: refused before writing; weight 1 learns."""
    frame = table("regression", 30, seed=5)
    source = tmp_path / "train.parquet"
    frame.to_parquet(source)
    model_dir = tmp_path / "models"

    def weighing(weight: float):
        xgboost = PARAMS.train.xgboost.model_copy(update={"min_child_weight": weight})
        return PARAMS.model_copy(update={"train": _with(xgboost=xgboost)})

    with pytest.raises(ParamsError, match=r"none of the model's trees split.*min_child_weight \(30\)"):
        train_stage.run(weighing(30.0), source=source, model_dir=model_dir)
    assert not model_dir.exists()
    assert train_stage.run(weighing(1.0), source=source, model_dir=model_dir) == 0
