"""train.regression_objective tweedie and gamma: log-link losses for a positive, skewed label.

Their predictions are on the label's scale (XGBoost applies exp), so the service, the batch
scorer and the monitor, which all score with the booster's default output, need no inverse.
How they compare with squared and absolute error is measured in benchmarks/skewed_objective.py.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlapp import model as model_io
from mlapp.errors import ParamsError
from mlapp.params import load_params
from mlapp.schema import FEATURES
from mlapp.serving import responses
from mlapp.serving.request import RequestParser
from mlapp.stages.train import train
from mlapp.stages.validate import ValidationFailed, validate_table
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = params_for(load_params(REPO / "params.yaml"), "regression")
EXAMPLES = PARAMS.validate_.max_failure_examples


def _skewed(rows: int = 600, seed: int = 4) -> pd.DataFrame:
    """A positive label whose log the features drive: a price, from about 1e3 to above 1e6."""
    frame = table("regression", rows, seed)
    rng = np.random.default_rng(seed)
    log_price = 7 + frame["monthly_charges"] * 0.03 + rng.normal(0, 0.8, rows)
    return frame.assign(churned=np.round(np.exp(log_price), 2))


def _params(loss: str):  # type: ignore[no-untyped-def]
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 60})
    train_params = PARAMS.train.model_copy(update={"regression_objective": loss, "xgboost": xgb})
    return PARAMS.model_copy(update={"train": train_params})


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    """As a CSV arrives: text, empty cells missing."""
    return frame.astype(str).replace({"nan": None, "None": None, "NaT": None})


@pytest.mark.parametrize(("loss", "metric"), [("tweedie", "tweedie-nloglik@1.5"), ("gamma", "gamma-nloglik")])
def test_a_log_link_loss_trains_and_serves_a_positive_prediction(
    loss: str, metric: str, tmp_path: Path
) -> None:
    frame = _skewed()
    fit, unseen = frame.iloc[:500], frame.iloc[500:]
    booster, spec = train(fit, "churned", _params(loss).train, "regression", examples=EXAMPLES)
    learner = json.loads(booster.save_config())["learner"]
    assert learner["objective"]["name"] == f"reg:{loss}"
    assert [m["name"] for m in learner["metrics"]] == [metric]
    if loss == "tweedie":
        assert float(learner["objective"]["tweedie_regression_param"]["tweedie_variance_power"]) == 1.5
    model_io.save(booster, spec, tmp_path / "model")
    model = model_io.load(tmp_path / "model")
    scores = model.scores(unseen)  # what the batch scorer, evaluate and the monitor call
    # On the label's scale, not log(label): within the labels' range, tracking them.
    labels = unseen["churned"].to_numpy()
    assert (scores > 0).all() and labels.min() / 2 < np.median(scores) < labels.max(), scores
    assert np.corrcoef(np.log(scores), np.log(labels))[0, 1] > 0.5
    # The service's path: JSON records -> the request parser's matrix -> inplace_predict -> answer.
    parser = RequestParser(FEATURES, model.spec, len(unseen), 20, id_column=None, time_column=None)
    _, matrix = parser.slow(
        json.dumps({"records": json.loads(unseen[list(FEATURES)].to_json(orient="records"))}).encode()
    )
    served = model.booster.inplace_predict(matrix).astype(np.float64)
    answer = json.loads(responses.answer(model.spec, served, np.zeros(len(served), np.int64)))
    np.testing.assert_allclose([a["prediction"] for a in answer], scores, rtol=1e-5)


@pytest.mark.parametrize("loss", ["tweedie", "gamma"])
def test_a_log_link_model_is_byte_deterministic(loss: str, tmp_path: Path) -> None:
    frame = _skewed()
    for name in ("a", "b"):
        booster, spec = train(frame, "churned", _params(loss).train, "regression", examples=EXAMPLES)
        model_io.save(booster, spec, tmp_path / name)
    first, second = (tmp_path / name / model_io.MODEL_FILE for name in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()


def _problems(frame: pd.DataFrame, loss: str) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        validate_table(_raw(frame), _params(loss))
    return [p.line() for p in failed.value.problems]


def test_a_label_outside_the_losss_domain_is_refused_naming_rows_and_fix() -> None:
    frame = _skewed(400)
    frame.loc[[7, 31], "churned"] = 0.0
    assert _problems(frame, "gamma") == [
        "column 'churned' failed above 0 (train.regression_objective gamma has a log link: use tweedie "
        "(0 allowed) or squarederror/absoluteerror): 2 value(s), e.g. [0.0, 0.0] at rows [7, 31]"
    ]
    validate_table(_raw(frame), _params("tweedie"))  # zeros: tweedie's compound Poisson has them
    frame.loc[12, "churned"] = -5.0
    assert _problems(frame, "tweedie") == [
        "column 'churned' failed at least 0 (train.regression_objective tweedie has a log link: use "
        "squarederror/absoluteerror): 1 value(s), e.g. [-5.0] at rows [12]"
    ]
    assert _problems(frame, "gamma")[0].startswith(
        "column 'churned' failed above 0 (train.regression_objective gamma"
    )
    assert "tweedie" not in _problems(frame, "gamma")[0].split("use ")[1]  # a negative label fits neither


def test_params_yaml_accepts_the_log_link_losses_and_bounds_tweedies_power(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.update(task="regression")
    raw["gate"]["primary_metric"], raw["tune"]["metric"] = "rmse", "rmse"
    raw["monitor"]["decay_tolerance"] = {"rmse": 0.05}
    path = tmp_path / "params.yaml"
    for loss in ("tweedie", "gamma"):
        raw["train"]["regression_objective"] = loss
        path.write_text(yaml.safe_dump(raw))
        assert load_params(path).train.regression_objective == loss
    raw["train"]["tweedie_variance_power"] = 2.0  # gamma's own: XGBoost's tweedie wants it below
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match="tweedie_variance_power"):
        load_params(path)


def test_the_benchmark_fits_every_loss_with_trains_own_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    # benchmarks/skewed_objective.py calls train directly: a changed signature would break it silently.
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling module, as when run
    bench = runpy.run_path(str(REPO / "benchmarks" / "skewed_objective.py"))
    fits = bench["one_seed"](1, 400, PARAMS.train, EXAMPLES)
    assert sorted(f["loss"] for f in fits) == sorted(bench["LOSSES"])
    assert all(np.isfinite(f["rmsle"]) and f["trees"] >= 1 for f in fits)
