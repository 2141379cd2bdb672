"""rmsle: evaluate's value, the report's weighted form, and what happens where log(1 + value) has
none (a label or a prediction at most -1): left out with the reason, refused where a team watches it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import root_mean_squared_log_error

from mlapp import metrics as m
from mlapp import model as model_io
from mlapp import tune
from mlapp.errors import UserError
from mlapp.report import bootstrap, compare
from mlapp.stages import evaluate
from mlapp.stages.train import train
from mlapp.stages.validate import ValidationFailed, validate_table
from tests.pipeline.task_tables import params_for, table
from tests.pipeline.test_tasks import EXAMPLES, FAST, PARAMS, _raw

RNG = np.random.default_rng(7)
Y = RNG.gamma(2.0, 50.0, 300)
PREDICTED = Y * RNG.lognormal(0, 0.2, 300)


def test_rmsle_is_scikit_learns_and_the_bootstrap_agrees_at_unit_weights() -> None:
    scores = m.regression_metrics(Y, PREDICTED)
    assert scores["rmsle"] == round(root_mean_squared_log_error(Y, PREDICTED), 6)
    assert 0.15 < scores["rmsle"] < 0.25  # the log-normal noise's sd, 0.2
    weighted = bootstrap.regression_metrics(np.ones((1, 300)), Y, PREDICTED)["rmsle"]
    assert weighted[0] == pytest.approx(scores["rmsle"], abs=1e-6)
    assert not m.higher_is_better("rmsle") and list(scores)[:3] == ["rmse", "mae", "r2"]


def test_between_minus_one_and_zero_rmsle_is_defined() -> None:
    y, predicted = np.array([-0.5, 0.0, 3.0]), np.array([-0.9, 0.5, 2.0])
    assert m.regression_metrics(y, predicted)["rmsle"] == round(root_mean_squared_log_error(y, predicted), 6)


@pytest.mark.parametrize("broken", ["label", "prediction"])
def test_a_value_at_most_minus_one_leaves_rmsle_out_and_names_its_rows(broken: str) -> None:
    y, predicted = Y.copy(), PREDICTED.copy()
    (y if broken == "label" else predicted)[[4, 9]] = [-1.0, -3.5]
    scores = m.regression_metrics(y, predicted)
    assert set(scores) == {"rmse", "mae", "r2"}  # no nan in metrics.json, no value of some rows only
    why = m.rmsle_undefined({"label": y, "prediction": predicted})
    assert why is not None and f"2 {broken}(s) at most -1 at rows 4, 9 (e.g. -1)" in why
    weighted = bootstrap.regression_metrics(np.ones((3, 300)), y, predicted)
    assert np.isnan(weighted["rmsle"]).all() and np.isfinite(weighted["rmse"]).all()


def test_the_report_leaves_an_undefined_rmsle_out_with_a_note_and_refuses_to_gate_on_it() -> None:
    y, base, pr = Y.copy(), PREDICTED.copy(), PREDICTED * 1.1
    pr[17] = -2.0
    deltas = compare.compare(y, (base, 0.0), (pr, 0.0), 200, 0, 0.95, "regression", [])
    assert [d.name for d in deltas] == ["rmse", "mae", "r2"]
    (note,) = compare.rmsle_notes("regression", y, base, pr, "rmse")
    assert "rmsle is not compared" in note and "1 PR model's prediction(s) at most -1 at rows 17" in note
    with pytest.raises(UserError, match=r"gate.primary_metric is rmsle, but .* at rows 17 .*gate on rmse"):
        compare.rmsle_notes("regression", y, base, pr, "rmsle")
    assert compare.rmsle_notes("regression", y, base, PREDICTED * 1.1, "rmsle") == []
    defined = compare.compare(y, (base, 0.0), (PREDICTED * 1.1, 0.0), 200, 0, 0.95, "regression", [])
    (rmsle,) = [d for d in defined if d.name == "rmsle"]
    assert rmsle.change == compare.WORSE and rmsle.ci_low > 0  # every prediction 10% high


def _rmsle_params(setting: str):  # type: ignore[no-untyped-def]
    params = params_for(PARAMS, "regression")
    if setting == "gate.primary_metric":
        return params.model_copy(update={"gate": params.gate.model_copy(update={"primary_metric": "rmsle"})})
    if setting == "tune.metric":
        return params.model_copy(update={"tune": params.tune.model_copy(update={"metric": "rmsle"})})
    monitor = params.monitor.model_copy(update={"decay_tolerance": {"rmsle": "5%"}})
    return params.model_copy(update={"monitor": monitor})


@pytest.mark.parametrize("setting", ["gate.primary_metric", "tune.metric", "monitor.decay_tolerance"])
def test_validate_refuses_labels_at_most_minus_one_only_where_rmsle_is_watched(setting: str) -> None:
    frame = table("regression", 400)
    frame["churned"] = frame["churned"].abs()  # a quantity, but for two rows
    frame.loc[[3, 8], "churned"] = [-1.0, -250.0]
    raw = _raw(frame)
    with pytest.raises(ValidationFailed) as failed:
        validate_table(raw, _rmsle_params(setting))
    assert [p.line() for p in failed.value.problems] == [
        f"column 'churned' failed above -1 (rmsle, of log(1 + label), is undefined below: {setting} "
        "names it; watch rmse or mae instead): 2 value(s), e.g. [-1.0, -250.0] at rows [3, 8]"
    ]
    validated, _ = validate_table(raw, params_for(PARAMS, "regression"))  # rmse watched: fine
    assert len(validated) == 400


def test_evaluate_says_why_metrics_json_has_no_rmsle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table("regression")
    model_io.save(*train(frame, "churned", FAST, "regression", examples=EXAMPLES), tmp_path / "model")
    test = frame.iloc[:300].copy()
    test.loc[test.index[[2, 5]], "churned"] = -7.0
    test.to_parquet(tmp_path / "test.parquet")
    evaluate.run(params_for(PARAMS, "regression"), model_dir=tmp_path / "model",
                 test_path=tmp_path / "test.parquet", metrics_path=tmp_path / "m.json",
                 plots_dir=tmp_path / "plots", log_to_mlflow=False)  # fmt: skip
    out = capsys.readouterr().out
    assert "2 test label(s) at most -1 at rows 2, 5 (e.g. -7)" in out and "metrics.json has no rmsle" in out
    assert "rmsle" not in (tmp_path / "m.json").read_text()


def test_tune_names_the_validation_rows_where_a_trials_rmsle_has_no_value() -> None:
    """validate refuses labels at most -1 when tune.metric is rmsle; a trial's model can still
    predict -1 or below: one line naming the rows, not a KeyError mid-search."""
    spec = model_io.ModelSpec([], {}, "price", None, 0, "regression", [])
    assert tune.metric_value("rmsle", spec, Y, PREDICTED) == m.regression_metrics(Y, PREDICTED)["rmsle"]
    predicted = PREDICTED.copy()
    predicted[6] = -1.5
    with pytest.raises(UserError, match=r"tune.metric rmsle: .* 1 prediction\(s\) at most -1 at rows 6 "):
        tune.metric_value("rmsle", spec, Y, predicted)
