"""Verdict and gate rules, on hand-made deltas."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.errors import UserError
from mlapp.params import GateParams
from mlapp.report.bootstrap import metric_names
from mlapp.report.compare import (
    BETTER,
    SAME,
    WORSE,
    MetricDelta,
    change_of,
    compare,
    gate,
    same_task,
    type_changes,
    undefined_notes,
    wide_interval,
)

POLICY = GateParams(primary_metric="roc_auc", min_primary=0.7, max_regression=0.01, require_significant=True)


def delta(pr: float, low: float, high: float, base: float = 0.80) -> MetricDelta:
    d = round(pr - base, 6)
    return MetricDelta("roc_auc", base, pr, d, low, high, True, change_of(low, high, True))


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [
        (0.01, 0.02, True, BETTER),
        (-0.02, -0.01, True, WORSE),
        (-0.01, 0.01, True, SAME),
        (0.0, 0.0, True, SAME),
        (0.01, 0.02, False, WORSE),  # a loss went up
        (-0.02, -0.01, False, BETTER),
    ],
)
def test_change_is_significant_only_when_the_interval_excludes_zero(
    low: float, high: float, higher_is_better: bool, expected: str
) -> None:
    assert change_of(low, high, higher_is_better) == expected


def test_gate_passes_an_improvement_and_a_small_drop() -> None:
    assert gate(POLICY, delta(0.82, 0.01, 0.03), 0.95, "base params.yaml").passed
    small = gate(POLICY, delta(0.795, -0.012, 0.002), 0.95, "base params.yaml")
    assert small.passed and small.reasons == [] and small.notes == []


def test_gate_fails_below_the_floor_even_without_a_drop() -> None:
    result = gate(POLICY, delta(0.69, -0.005, 0.005, base=0.69), 0.95, "base params.yaml")
    assert not result.passed
    assert result.reasons == ["roc_auc 0.6900 is below the minimum 0.7000 (gate.min_primary)"]


def test_gate_fails_a_significant_drop_and_says_by_how_much() -> None:
    result = gate(POLICY, delta(0.75, -0.08, -0.02), 0.95, "base params.yaml")
    assert not result.passed
    assert result.reasons == [
        "roc_auc dropped by 0.0500, more than the allowed 0.01 (1.25% of the base's 0.8); "
        "95% CI of the change [-0.0800, -0.0200]"
    ]


def test_an_insignificant_drop_is_a_note_unless_significance_is_not_required() -> None:
    noisy = delta(0.77, -0.07, 0.01)
    lenient = gate(POLICY, noisy, 0.95, "base params.yaml")
    assert lenient.passed and "not significant" in lenient.notes[0]
    strict = gate(POLICY.model_copy(update={"require_significant": False}), noisy, 0.95, "base params.yaml")
    assert not strict.passed and "dropped by 0.0300" in strict.reasons[0]


def test_a_share_of_the_base_is_the_tolerance_in_both_units() -> None:
    """rmse in the tens: "2%" allows a rise of 2% of the base's rmse, and the reason says how much
    that is in rmse's own units; an absolute tolerance is shown as a share of the base as well."""
    relative = GateParams(
        primary_metric="rmse", min_primary=100.0, max_regression="2%", require_significant=False
    )
    rmse = MetricDelta("rmse", 30.0, 30.5, 0.5, 0.2, 0.8, False, WORSE)
    assert gate(relative, rmse, 0.95, "base params.yaml").passed  # 0.5 <= 0.6
    worse = MetricDelta("rmse", 30.0, 31.0, 1.0, 0.7, 1.3, False, WORSE)
    result = gate(relative, worse, 0.95, "base params.yaml")
    assert result.reasons == [
        "rmse rose by 1.0000, more than the allowed 2% of the base's 30 (0.6); "
        "95% CI of the change [+0.7000, +1.3000]"
    ]
    absolute = relative.model_copy(update={"max_regression": 0.005})
    assert "the allowed 0.005 (0.0167% of the base's 30)" in gate(absolute, worse, 0.95, "x").reasons[0]


def test_a_tolerance_as_wide_as_the_bases_headroom_is_a_note() -> None:
    """params.yaml refuses a tolerance as wide as the metric's range; one that only this base
    cannot exceed (accuracy 0.3 cannot drop by 0.4) passes every PR against it: the report says so."""
    loose = GateParams(
        primary_metric="accuracy", min_primary=0.0, max_regression=0.4, require_significant=True
    )
    same = MetricDelta("accuracy", 0.3, 0.3, 0.0, -0.01, 0.01, True, SAME)
    result = gate(loose, same, 0.95, "base params.yaml")
    assert result.passed and result.notes == [
        "gate.max_regression allows 0.4 (133% of the base's 0.3), but accuracy can drop by at most 0.3 "
        "from the base's 0.3: against this base the regression rule cannot fail; tighten it"
    ]
    assert gate(loose, MetricDelta("accuracy", 0.8, 0.8, 0.0, -0.01, 0.01, True, SAME), 0.95, "x").notes == []
    unbounded = GateParams(
        primary_metric="rmse", min_primary=99.0, max_regression=50.0, require_significant=True
    )
    assert gate(unbounded, MetricDelta("rmse", 3.0, 3.0, 0.0, -0.1, 0.1, False, SAME), 0.95, "x").notes == []


def test_compare_reports_observed_values_and_intervals_that_bracket_them() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(np.int64)
    base = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, y.size), 0, 1)
    pr = np.clip(0.3 + 0.2 * (y - 0.3) + rng.normal(0, 0.2, y.size), 0, 1)
    rows = {r.name: r for r in compare(y, (base, 0.4), (pr, 0.35), 400, 11, 0.95)}
    assert rows["roc_auc"].change == WORSE and rows["roc_auc"].delta < 0
    assert [r.name for r in rows.values() if not r.higher_is_better] == ["log_loss", "brier"]
    for row in rows.values():
        assert row.ci_low <= row.delta <= row.ci_high, row


def test_binary_models_whose_positive_class_differs_are_not_compared() -> None:
    def model(classes: list[str]) -> Any:
        return SimpleNamespace(task="binary", spec=SimpleNamespace(classes=classes, label="churned"))

    scores = np.array([0.2, 0.9])
    assert same_task(model(["no", "yes"]), model(["no", "yes"]), lambda: scores) is scores
    # data.classes reordered: the base's scores are P("yes"), the PR's labels count "no" as positive
    with pytest.raises(UserError, match="positive class"):
        same_task(model(["no", "yes"]), model(["yes", "no"]), lambda: scores)
    with pytest.raises(UserError, match="classes"):
        same_task(model(["0", "1"]), model(["no", "yes"]), lambda: scores)


def test_a_base_of_another_task_is_named_before_its_features() -> None:
    """The PR that brings your own data: the base (the churn sample's binary model) needs features
    the PR's table lacks, but what to say is that the task changed (a list of 17 missing
    features said it less plainly)."""

    def base_scores() -> np.ndarray:
        raise UserError("the base model needs features the PR's test set lacks: ['tenure_months']")

    base = SimpleNamespace(task="binary", spec=SimpleNamespace(classes=["0", "1"], label="churned"))
    pr = SimpleNamespace(task="regression", spec=SimpleNamespace(classes=[], label="monthly_charges"))
    with pytest.raises(UserError, match="the base model is a binary model and the PR's a regression model"):
        same_task(base, pr, base_scores)
    with pytest.raises(UserError, match="features"):
        same_task(base, SimpleNamespace(task="binary", spec=base.spec), base_scores)


def test_a_base_that_predicts_another_label_is_not_compared() -> None:
    """data.label switched to another 0/1 column: task and classes match, but the base model
    predicts churn, so scoring it against the new label made the PR "better" by 0.35 AUC."""

    def model(label: str) -> Any:
        return SimpleNamespace(task="binary", spec=SimpleNamespace(classes=["0", "1"], label=label))

    scores = np.array([0.2, 0.9])
    assert same_task(model("churned"), model("churned"), lambda: scores) is scores
    with pytest.raises(UserError, match=r"the label changed \(base 'churned', PR 'upsold': data.label\)"):
        same_task(model("churned"), model("upsold"), lambda: scores)


def test_a_feature_whose_type_changed_is_named_not_a_traceback() -> None:
    """schema.py turned a count into levels (support_tickets_90d: 0, 1, 2 -> "none", "few", "many"):
    the base model read it as a number and pandas raised "Unable to parse string 'none'" from the
    report; the other way, numbers matched none of the base's text levels and scored as missing."""
    from mlapp.report.rows import score as _score

    spec = SimpleNamespace(
        features=["tickets", "region", "paperless"], categories={"region": ["north", "south"]}
    )
    base = SimpleNamespace(spec=spec)
    same = pd.DataFrame({"tickets": [0, 2], "region": ["north", "south"], "paperless": [True, False]})
    assert type_changes(base, same) == []
    levels = same.assign(tickets=["none", "many"], region=pd.Series([1, 2], dtype="Int64"))
    assert type_changes(base, levels) == [
        "'tickets' (read as a number, the PR's rows hold text)",
        "'region' (read as a category, the PR's rows hold numbers)",
    ]
    with pytest.raises(UserError, match=r"the base model cannot score .* type changed .*'tickets'"):
        _score(base, levels, "base")


def test_a_ceiling_the_base_model_misses_too_asks_whether_it_is_in_the_metrics_units() -> None:
    """After a task switch (binary to regression), gate.min_primary 0.75 kept from roc_auc is valid
    as an rmse ceiling and fails every PR on a number of the old metric; the failure line said only
    that the PR's rmse is above it. When the base's model is above it too, the line asks."""
    kept = GateParams(primary_metric="rmse", min_primary=0.75, max_regression="2%", require_significant=True)
    rmse = MetricDelta("rmse", 14.1, 14.2, 0.1, -0.2, 0.4, False, SAME)
    assert gate(kept, rmse, 0.95, "base params.yaml").reasons == [
        "rmse 14.2000 is above the maximum 0.7500 (gate.min_primary, a ceiling for rmse, in its units); "
        "the base's model is above it too (14.1000): kept from another metric? set a ceiling in rmse's units"
    ]
    met_by_the_base = MetricDelta("rmse", 0.7, 0.8, 0.1, 0.05, 0.15, False, WORSE)
    (reason, _) = gate(kept, met_by_the_base, 0.95, "x").reasons
    assert (
        reason
        == "rmse 0.8000 is above the maximum 0.7500 (gate.min_primary, a ceiling for rmse, in its units)"
    )
    raised_floor = delta(0.72, -0.02, 0.01, base=0.71)  # a floor above both AUCs: a raised bar, no question
    assert gate(POLICY.model_copy(update={"min_primary": 0.75}), raised_floor, 0.95, "x").reasons == [
        "roc_auc 0.7200 is below the minimum 0.7500 (gate.min_primary)"
    ]


def _scores(y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1 / (1 + np.exp(-(1.2 * y + rng.normal(size=y.size) - 2.5)))


@pytest.mark.parametrize(("positives", "primary", "flagged"), [(0.005, "f1", True), (0.3, "roc_auc", False)])
def test_a_primary_metric_whose_interval_is_wide_for_its_value_is_flagged(
    positives: float, primary: str, flagged: bool
) -> None:
    """Rare positives: 2,000 rows, a dozen positive. The f1 at each model's threshold swings with a
    few rows (46% sd between training seeds in benchmarks/rare_positives.py), and the report said
    nothing of it beside the verdict; a roc_auc on 600 positives is steady."""
    y = (np.random.default_rng(0).random(2_000) < positives).astype(np.int64)
    rows = {r.name: r for r in compare(y, (_scores(y, 1), 0.3), (_scores(y, 2), 0.3), 400, 5, 0.95)}
    note = wide_interval(rows[primary], 0.5, 0.95)
    assert bool(note) == flagged, (rows[primary], note)
    if flagged:
        assert note[0].startswith("f1 is unstable on these rows: its 95% CI of the change spans ")
        assert note[0].endswith("gate on pr_auc (docs/pr-report.md, Rare positives)")


def test_the_wide_interval_note_says_how_wide_against_what() -> None:
    f1 = MetricDelta("f1", 0.06, 0.07, 0.01, -0.12, 0.14, True, SAME)
    assert wide_interval(f1, 0.5, 0.9) == [
        "f1 is unstable on these rows: its 90% CI of the change spans 0.2600, 433% of the base's 0.0600 "
        "(more than report.wide_ci_share 50%), so the verdict says little either way; f1 is taken at "
        "each model's threshold, which moves between trainings when positives are few: gate on pr_auc "
        "(docs/pr-report.md, Rare positives)"
    ]
    assert wide_interval(f1, 5, 0.9) == []  # within the share
    rmse = MetricDelta("rmse", 3.0, 3.5, 0.5, -1.0, 2.0, False, SAME)  # no threshold: no pr_auc hint
    assert wide_interval(rmse, 0.5, 0.95)[0].endswith(
        "(more than report.wide_ci_share 50%), so the verdict says little either way"
    )
    never = MetricDelta("f1", 0.0, 0.0, 0.0, 0.0, 0.0, True, SAME)  # nothing moved, not even at 0
    assert wide_interval(never, 0.5, 0.95) == []
    zero = MetricDelta("f1", 0.0, 0.05, 0.05, 0.0, 0.1, True, SAME)
    assert "spans 0.1000, beside a base f1 of 0 (more than" in wide_interval(zero, 0.5, 0.95)[0]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_a_metric_undefined_on_the_compared_rows_is_left_out_and_said_never_gated_as_nan() -> None:
    """r2 of one test row, roc_auc of one class: scikit-learn says NaN. The row went into
    report.json (which refuses NaN: a traceback) and a NaN primary metric failed no floor and no
    bound, so the gate passed on it."""
    one = compare(np.array([3.0]), (np.array([1.0]), 0), (np.array([2.0]), 0), 200, 1, 0.95, "regression")
    assert [r.name for r in one] == ["rmse", "mae", "rmsle"]
    json.dumps([r.as_dict() for r in one], allow_nan=False)
    names = metric_names("regression", [])
    assert undefined_notes(one, names, 1, "rmse") == [
        "r2 is not compared: undefined on the 1 compared test rows (too few rows, or a class without any)."
    ]
    with pytest.raises(UserError, match=r"gate\.primary_metric r2 is undefined on the 1 compared test rows"):
        undefined_notes(one, names, 1, "r2")
    y, scores = np.zeros(5, dtype=np.int64), np.linspace(0.1, 0.5, 5)
    single = compare(y, (scores, 0.5), (scores[::-1], 0.5), 200, 1, 0.95)
    assert "roc_auc" not in {r.name for r in single}
    with pytest.raises(UserError, match=r"gate\.primary_metric roc_auc is undefined on the 5 compared"):
        undefined_notes(single, metric_names("binary", []), 5, "roc_auc")
