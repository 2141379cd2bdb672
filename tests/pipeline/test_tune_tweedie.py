"""`mlapp pipeline tune` searching train.tweedie_variance_power, declared in tune.space as the
train.xgboost values are, on a small claims-like table (most labels 0, the rest skewed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from ruamel.yaml import YAML

from mlapp.cli import cli
from mlapp.errors import ParamsError
from mlapp.params import load_params
from mlapp.tables import write_frame
from tests.conftest import REPO
from tests.pipeline.task_tables import table

TRUE_POWER = 1.2  # the table's own: Poisson-like, about a fifth of the labels 0


def _claims(tmp_path: Path, rows: int = 800, seed: int = 5) -> Path:
    """Compound Poisson-gamma labels (Tweedie, power 1.2, dispersion 2) whose mean the features drive."""
    frame = table("regression", rows, seed)
    rng = np.random.default_rng(seed)
    mean = np.exp(0.5 + frame["tenure_months"].to_numpy() * 0.03)
    power, dispersion = TRUE_POWER, 2.0
    claims = rng.poisson(mean ** (2 - power) / (dispersion * (2 - power)))
    sizes = rng.gamma((2 - power) / (power - 1) * claims, dispersion * (power - 1) * mean ** (power - 1))
    write_frame(frame.assign(churned=np.round(sizes, 2)), path := tmp_path / "claims.parquet")
    return path


def _params_yaml(tmp_path: Path, space: dict, objective: str = "tweedie") -> Path:
    """The shipped params.yaml switched to regression with this loss and tune.space (small fits)."""
    yaml = YAML()
    document = yaml.load((REPO / "params.yaml").read_text())
    document["task"] = "regression"
    document["gate"]["primary_metric"] = document["tune"]["metric"] = "mae"
    document["monitor"]["decay_tolerance"] = {"mae": 0.05}
    document["train"]["regression_objective"] = objective
    document["train"]["xgboost"].update(n_estimators=60, max_depth=3, learning_rate=0.1)
    document["tune"]["space"] = space
    with (path := tmp_path / "params.yaml").open("w") as handle:
        yaml.dump(document, handle)
    return path


@pytest.mark.usefixtures("mlflow_store")
def test_tune_searches_the_tweedie_power_and_writes_the_best_into_train(tmp_path: Path) -> None:
    """Each trial fits with its own power (the validation MAE moves with it), logged under the
    setting's name; the best is written to train.tweedie_variance_power, the xgboost values beside."""
    path = _params_yaml(tmp_path, {"tweedie_variance_power": [1.05, 1.95], "max_depth": [2, 4]})
    argv = ["--params", str(path), "pipeline", "tune", "--input", str(_claims(tmp_path)), "--trials", "6"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("mlapp").experiment_id])
    trials = {
        float(r.data.params["train.tweedie_variance_power"]): r.data.metrics["valid_mae"]
        for r in runs
        if "train.tweedie_variance_power" in r.data.params
    }
    assert len(trials) == 6 and 1.5 in trials and all(1.05 <= p <= 1.95 for p in trials), trials
    assert len(set(trials.values())) == 6, trials  # the power reached every fit
    best_power = min(trials, key=lambda power: trials[power])
    written = load_params(path)
    assert written.train.tweedie_variance_power == pytest.approx(best_power, rel=1e-3)
    assert f"train.tweedie_variance_power: 1.5 -> {written.train.tweedie_variance_power}" in result.output
    assert written.train.xgboost.max_depth in (2, 3, 4)
    # measured: 1.19 (validation MAE 2.588 against 2.607 at 1.5), the table's 1.2 nearer than 1.5 was
    assert abs(written.train.tweedie_variance_power - TRUE_POWER) < abs(1.5 - TRUE_POWER)


def test_the_power_is_searched_only_for_the_tweedie_loss(tmp_path: Path) -> None:
    """Another loss never reads the power: a search of it would score the same model again and again."""
    with pytest.raises(ParamsError) as raised:
        load_params(_params_yaml(tmp_path, {"tweedie_variance_power": [1.1, 1.9]}, objective="gamma"))
    assert str(raised.value).endswith(
        "is invalid: tune.space.tweedie_variance_power searches train.tweedie_variance_power, which only "
        "train.regression_objective tweedie uses (this file's is gamma): remove it from tune.space, or "
        "set regression_objective to tweedie"
    )


def test_a_power_range_reaching_xgboosts_bounds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParamsError) as raised:
        load_params(_params_yaml(tmp_path, {"tweedie_variance_power": [1.0, 1.9]}))
    assert str(raised.value).endswith(
        "tune.space.tweedie_variance_power: [1, 1.9] reaches 1, which train.tweedie_variance_power "
        "refuses (1: must be more than 1 and less than 2): keep the range inside it"
    )


def test_a_misspelt_name_is_one_line_listing_every_name_tune_space_takes(tmp_path: Path) -> None:
    """`tweedie_power` was two lines, one per kind of name (a union's branches), each listing part."""
    with pytest.raises(ParamsError) as raised:
        load_params(_params_yaml(tmp_path, {"tweedie_power": [1.1, 1.9]}))
    assert str(raised.value).endswith(
        "is invalid: tune.space: 'tweedie_power': must be one of 'n_estimators', 'max_depth', "
        "'learning_rate', 'subsample', 'colsample_bytree', 'min_child_weight', 'reg_lambda', "
        "'tweedie_variance_power': did you mean 'tweedie_variance_power'?"
    )
