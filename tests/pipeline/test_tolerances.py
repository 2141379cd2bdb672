"""gate.max_regression and monitor.decay_tolerance: refused where they would switch their rule off,
and written either in the metric's units or as a share ("2%") of the value they are compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mlapp.errors import ParamsError
from mlapp.model import ModelSpec
from mlapp.monitor import drift
from mlapp.params import load_params
from tests.conftest import REPO


def _params(tmp_path: Path, task: str, metric: str, regression: object, decay: object) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.update(task=task)
    bound = {"rmse": 100.0, "mae": 100.0, "log_loss": 1.0, "brier": 0.5, "r2": 0.0}.get(metric, 0.5)
    raw["gate"].update(primary_metric=metric, min_primary=bound, max_regression=regression)
    raw["monitor"]["decay_tolerance"] = {metric: decay}
    raw["tune"].update(metric=metric)
    if task != "binary":
        raw["data"]["classes"] = None
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("task", "metric", "tolerance", "why"),
    [
        ("binary", "roc_auc", 1.0,
         "is not below the width of roc_auc's range (from 0 to 1): roc_auc can never drop by more than 1"),
        ("binary", "accuracy", 5.0, "is not below the width of accuracy's range (from 0 to 1)"),
        ("binary", "brier", 1.0, "brier can never rise by more than 1"),
        ("multiclass", "f1_macro", "100%",
         "100% is not below 100%: f1_macro (from 0 to 1) can never drop by more than its own value"),
        ("regression", "r2", "5%", "5% is a share of r2's value, which can be 0 or negative (at most 1)"),
        ("regression", "rmse", -0.5, "-0.5 is negative: it is how far rmse may rise; set 0 or more"),
        ("regression", "rmse", float("inf"), "inf is no finite number, so the rule could never"),
        ("regression", "mae", float("nan"), "nan is no finite number, so the rule could never"),
        ("binary", "roc_auc", "two",
         "'two' is neither a number (in the metric's units) nor a share such as '2%'"),
    ],
)  # fmt: skip
def test_a_tolerance_that_switches_its_rule_off_is_refused_naming_setting_metric_and_range(
    tmp_path: Path, task: str, metric: str, tolerance: object, why: str
) -> None:
    """The gate's max_regression and the monitor's decay_tolerance of the same metric, both wrong:
    one error, a line for each, each naming its setting, the metric and what it can take."""
    with pytest.raises(ParamsError) as refused:
        load_params(_params(tmp_path, task, metric, tolerance, tolerance))
    decay, gate = str(refused.value).splitlines()[1:]  # in the file's order: monitor comes first
    assert gate.startswith("  - gate.max_regression: ") and why in gate, gate
    named = f".{metric}: " if tolerance == "two" else f": {metric}: "  # a type error names the key itself
    assert decay.startswith(f"  - monitor.decay_tolerance{named}") and why in decay, decay
    if isinstance(tolerance, float) and 0 < tolerance < float("inf"):
        assert f"(it would be off); set a value below 1, in {metric}'s units" in gate
        assert "could never fail a pull request" in gate and "could never ask for retraining" in decay


@pytest.mark.parametrize(
    ("task", "metric", "tolerance"),
    [("binary", "roc_auc", 0.0), ("binary", "roc_auc", 0.999), ("binary", "roc_auc", "99%"),
     ("binary", "log_loss", 40.0), ("regression", "rmse", 5000.0), ("regression", "rmse", "250%"),
     ("regression", "r2", 3.0), ("binary", "brier", "150%"), ("regression", "mae", "2.5%")],
)  # fmt: skip
def test_a_tolerance_the_metric_can_exceed_loads(
    tmp_path: Path, task: str, metric: str, tolerance: object
) -> None:
    """Below the range's width, any share of an unbounded error (rmse may more than double) and a
    share of brier (it can rise from a small value by more than itself) can all fire."""
    params = load_params(_params(tmp_path, task, metric, tolerance, tolerance))
    assert params.gate.max_regression == tolerance == params.monitor.decay_tolerance[metric]


def test_a_quoted_number_is_the_number(tmp_path: Path) -> None:
    assert load_params(_params(tmp_path, "binary", "roc_auc", "0.01", "0.05")).gate.max_regression == 0.01


def test_decay_by_a_share_of_metrics_json() -> None:
    """rmse 20 in metrics.json, 21.5 on the batch: 5% (1.0) decayed, 10% (2.0) did not."""
    spec = ModelSpec(["x"], {}, "y", None, 10, "regression", [])
    rng = np.random.default_rng(4)
    y = rng.normal(0, 50, 4000)
    predicted = y + rng.normal(0, 21.5, y.size)
    rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
    boot = {"resamples": 300, "seed": 7, "confidence": 0.95, "max_rows": 200_000}
    reference = {"rmse": 20.0}
    (tight,) = drift.metric_decay(y, predicted, spec, reference, {"rmse": "5%"}, **boot)
    (loose,) = drift.metric_decay(y, predicted, spec, reference, {"rmse": "10%"}, **boot)
    assert 21.0 < rmse < 22.0 and tight.batch == pytest.approx(rmse, abs=1e-6)
    assert tight.decayed and not loose.decayed and loose.tolerance == "10%"


def test_the_tolerance_is_shown_as_written_and_in_the_other_form() -> None:
    """The report's gate line and reasons, and the monitor's decay table, say both."""
    from mlapp.monitor import render
    from mlapp.tolerances import tolerance_text

    assert tolerance_text(0.005, 24.0, "the base's") == "0.005 (0.0208% of the base's 24)"
    assert tolerance_text("2%", 24.0, "the base's") == "2% of the base's 24 (0.48)"
    assert tolerance_text(0.01, 0.0, "the base's") == "0.01"  # no share of 0
    row = {"metric": "rmse", "reference": 20.0, "batch": 21.5, "batch_low": 21.0, "batch_high": 22.0}
    row |= {"change": 1.5, "tolerance": "5%", "decayed": True}
    lines = render._decay({"labeled_rows": 4000, "decay": {"status": "checked", "why": "", "metrics": [row]}})
    assert "| 5% of metrics.json's 20 (1) | **yes** |" in "\n".join(lines)
