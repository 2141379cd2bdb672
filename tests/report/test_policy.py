"""Which gate decides a PR: the base's, completed by the PR's new settings and mended where this
code refuses the base's (pure functions of two params texts: fast)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mlapp.errors import UserError
from mlapp.metrics import TASK_METRICS
from mlapp.params import GateParams, Params, load_params
from mlapp.report import caveats
from mlapp.report.policy import class_rows_bound, gate_policy, kept_bound, report_statistics
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
PR = PARAMS.gate.model_dump()


def _base(**gate: object) -> str:
    """A base commit's params.yaml text holding ``gate``."""
    return yaml.safe_dump({"gate": gate})


def test_a_gate_setting_the_base_lacks_applies_at_once_with_the_prs_value() -> None:
    """The base's gate decides (a PR cannot loosen its own), but a base from before a gate
    setting existed has no value for it: the PR's applies, and the source says so."""
    base = "gate:\n  primary_metric: pr_auc\n  min_primary: 0.1\n  max_regression: 0.5\n"
    policy = gate_policy(base, PARAMS)
    assert policy.gate.model_dump() == {
        "primary_metric": "pr_auc",
        "min_primary": 0.1,
        "max_regression": 0.5,
        "require_significant": PR["require_significant"],
    }
    assert policy.source == "base params.yaml (+ this PR's new require_significant)" and policy.notes == []
    complete = gate_policy(base + "  require_significant: false\n", PARAMS)
    assert (complete.gate.require_significant, complete.source) == (False, "base params.yaml")


def test_a_base_tolerance_that_can_never_fire_gives_way_to_the_prs_and_is_named() -> None:
    """A max_regression of 1.5 for roc_auc was accepted once; this code refuses it (no model drops
    by more than 1: the rule was off). The report stopped with pydantic's dump, so the PR that mends
    it could not be compared: the PR's value applies to that setting alone, and a note says why."""
    base = _base(primary_metric="roc_auc", min_primary=0.6, max_regression=1.5, require_significant=True)
    policy = gate_policy(base, PARAMS)
    assert policy.gate.model_dump() == {**PR, "min_primary": 0.6, "require_significant": True}
    assert policy.source == "base params.yaml (this PR's max_regression: the base's is no longer valid)"
    (note,) = policy.notes
    assert note.startswith(
        "the base's gate.max_regression 1.5 is no longer valid (1.5 is not below the width of roc_auc's range"
    )
    assert note.endswith(f"; this PR's {PR['max_regression']!r} applies")


def test_a_base_floor_in_another_metrics_units_gives_way_to_the_prs_and_is_named() -> None:
    """A floor roc_auc can never reach would fail every PR, the one that mends it too."""
    base = "gate:\n  primary_metric: roc_auc\n  min_primary: 150000\n  max_regression: 0.5\n"
    policy = gate_policy(base, PARAMS)
    assert (policy.gate.min_primary, policy.gate.max_regression) == (PR["min_primary"], 0.5)
    assert "this PR's min_primary: the base's is no longer valid" in policy.source
    (note,) = policy.notes
    assert (
        "gate.min_primary 150000 is no longer valid" in note
        and "outside roc_auc's range (from 0 to 1)" in note
    )


def test_a_base_metric_refused_takes_the_prs_and_its_bounds_are_checked_again() -> None:
    """A metric name this code does not know gives way to the PR's; the base's bounds, written for
    the old metric, are then checked against the PR's (a floor of 5 cannot be an AUC's)."""
    base = _base(primary_metric="auc_roc", min_primary=5, max_regression=0.01, require_significant=True)
    policy = gate_policy(base, PARAMS)
    assert policy.gate.model_dump() == {**PR, "max_regression": 0.01, "require_significant": True}
    assert [note.split(" is no longer")[0] for note in policy.notes] == [
        "the base's gate.primary_metric 'auc_roc'",
        "the base's gate.min_primary 5",
    ]
    # One short line: the setting, the value, the task's metrics (not every name pydantic knows).
    metrics = ", ".join(TASK_METRICS[PARAMS.task])
    assert policy.notes[0] == (
        f"the base's gate.primary_metric 'auc_roc' is no longer valid (not a metric; task {PARAMS.task}'s "
        f"are {metrics}); this PR's {PR['primary_metric']!r} applies"
    )


def test_a_base_setting_this_code_no_longer_has_is_ignored_and_named() -> None:
    kept = {"min_primary": 0.6, "max_regression": 0.01, "require_significant": True}
    policy = gate_policy(_base(primary_metric="roc_auc", **kept, min_rows=10), PARAMS)
    assert policy.gate.model_dump() == {**PR, **kept}
    assert policy.notes == [
        "the base's gate.min_rows 10 is no longer valid (not a setting of gate (its settings: "
        "primary_metric, min_primary, max_regression, require_significant)); it is ignored"
    ]


@pytest.mark.parametrize(
    ("setting", "value", "why"),
    [
        ("min_primary", "high", "'high': must be a number"),
        ("max_regression", [1], "[1]: must be a number or a share such as '2%'"),
        ("require_significant", None, "null (or nothing after the colon): must be true or false"),
    ],
)
def test_a_base_setting_of_the_wrong_kind_is_said_as_params_yaml_says_it(
    setting: str, value: object, why: str
) -> None:
    """The notes said pydantic's "Input should be a valid number" (and for a list, a union's two
    errors, the note of the last): params.yaml's own words now, the same as `load_params` says."""
    gate = {**PR, setting: value}
    (note,) = gate_policy(_base(**gate), PARAMS).notes
    applies = f"this PR's {PR[setting]!r} applies"
    assert note == f"the base's gate.{setting} {value!r} is no longer valid ({why}); {applies}"


def test_a_base_gate_the_prs_values_cannot_mend_still_stops() -> None:
    """The PR's own value refused beside the base's other settings: a 150% rise of log loss is a
    tolerance of the PR's metric, not of the base's pr_auc (which cannot drop by more than itself)."""
    gate = GateParams.model_validate(
        {
            "primary_metric": "log_loss",
            "min_primary": 0.6,
            "max_regression": "150%",
            "require_significant": True,
        }
    )
    params = PARAMS.model_copy(update={"gate": gate})
    base = _base(primary_metric="pr_auc", min_primary=0.5, max_regression=1.5, require_significant=True)
    with pytest.raises(UserError) as caught:
        gate_policy(base, params)
    said = str(caught.value)  # each setting on a line, as params.yaml's own errors are; no pydantic dump
    assert said.startswith(
        "the base's gate: section is invalid:\n  - gate.max_regression: 150% is not below 100%"
    )
    assert "pydantic" not in said and "[type=" not in said


def test_a_base_metric_of_another_task_takes_the_prs_and_is_named() -> None:
    """rmse is a metric, but not of this task: the report would stop on it, the PR mending it too.
    It gives way to the PR's, and the base's floor (in rmse's units) is checked against the PR's."""
    base = _base(primary_metric="rmse", min_primary=100, max_regression=0.01, require_significant=True)
    policy = gate_policy(base, PARAMS)
    assert policy.gate.model_dump() == {**PR, "max_regression": 0.01, "require_significant": True}
    metrics = ", ".join(TASK_METRICS[PARAMS.task])
    assert policy.notes[0] == (
        f"the base's gate.primary_metric 'rmse' is no longer valid (a metric of another task; task "
        f"{PARAMS.task}'s are {metrics}); this PR's {PR['primary_metric']!r} applies"
    )
    assert policy.notes[1].startswith("the base's gate.min_primary 100 is no longer valid")


def test_a_bound_kept_while_the_metric_moves_is_named() -> None:
    """A PR switching binary to regression moves gate.primary_metric to rmse and keeps min_primary
    0.75: valid as an rmse (a ceiling in the label's units), so nothing refused it, and every PR
    after this one failed on it. The PR that sets the trap is told (its report is not compared:
    another task); a bound changed with the metric, or a metric kept, is not named."""
    regression = PARAMS.model_copy(
        update={"gate": PARAMS.gate.model_copy(update={"primary_metric": "rmse", "min_primary": 0.75})}
    )
    base = _base(primary_metric="roc_auc", min_primary=0.75, max_regression=0.005, require_significant=True)
    assert kept_bound(base, regression) == [
        "this PR moves gate.primary_metric from roc_auc to rmse but keeps gate.min_primary 0.7500: "
        "for rmse it is a ceiling (lower is better) in rmse's units, and once merged every PR is held to it"
    ]
    moved = regression.model_copy(update={"gate": regression.gate.model_copy(update={"min_primary": 40.0})})
    assert kept_bound(base, moved) == []
    assert kept_bound(base, PARAMS) == []  # roc_auc both sides
    assert kept_bound(None, regression) == []
    assert kept_bound(_base(primary_metric="auc", min_primary=0.75), regression) == []  # no metric: policy's


def _with_class_rows(least: int) -> Params:
    return PARAMS.model_copy(
        update={"validate_": PARAMS.validate_.model_copy(update={"min_class_rows": least})}
    )


def test_a_pr_cannot_silence_the_few_test_rows_warning_by_lowering_min_class_rows() -> None:
    """The warning was judged by the PR's own validate.min_class_rows: a PR that lowered it to 3
    passed 5 test rows of a class without a word. The larger of the two bounds applies, as the
    base's gate does, and the lowering is said in the warning and in a gate note."""
    base = "validate:\n  min_class_rows: 10\n"
    y = np.array([0] * 20 + [1] * 5)
    lowered = class_rows_bound(base, _with_class_rows(3))
    assert lowered.least == 10
    assert caveats.few_test_rows(y, ["0", "1"], lowered.least, lowered.said) == (
        "Few test rows: 25 compared, 5 of class `1` (validate.min_class_rows: 10, the base's; this PR "
        "lowers it to 3): the bootstrap cannot show how much the metrics vary on so few rows, so the "
        "intervals, wide or narrow, and the verdict say little either way."
    )
    assert lowered.notes == [
        "This PR lowers validate.min_class_rows from 10 to 3; the few-test-rows warning keeps the "
        "base's 10 until it is merged."
    ]
    raised = class_rows_bound(base, _with_class_rows(30))  # stricter: the PR's own applies at once
    assert (raised.least, raised.said, raised.notes) == (30, "validate.min_class_rows: 30", [])
    for unusable in (
        None,
        "validate: {}\n",
        "validate:\n  min_class_rows: ten\n",
        "validate:\n  min_class_rows: true\n",
        "- a list\n",
    ):
        kept = class_rows_bound(unusable, _with_class_rows(3))  # no base value to hold the PR to
        assert (kept.least, kept.notes) == (3, [])


def test_a_pr_is_judged_by_the_bases_statistics_not_its_own() -> None:
    """report.confidence 0.999 widened the PR's own intervals until its drop was "not significant",
    and gate.require_significant let it pass; a seed tried until the interval touched 0 did too.
    The base's bootstrap settings apply, as its gate does; the PR's apply once merged."""
    wider = PARAMS.model_copy(
        update={"report": PARAMS.report.model_copy(update={"confidence": 0.999, "bootstrap_seed": 7})}
    )
    base = yaml.safe_dump({"report": PARAMS.report.model_dump(mode="json")})
    stats, notes = report_statistics(base, wider)
    assert (stats.confidence, stats.bootstrap_seed) == (
        PARAMS.report.confidence,
        PARAMS.report.bootstrap_seed,
    )
    assert stats.bootstrap_resamples == PARAMS.report.bootstrap_resamples
    assert notes == [
        f"This PR changes report.bootstrap_seed from {PARAMS.report.bootstrap_seed} to 7; the base's "
        "applies until it is merged.",
        "This PR changes report.confidence from 95% to 99.9%; the base's applies until it is merged.",
    ]
    assert report_statistics(base, PARAMS) == (PARAMS.report, [])  # unchanged: nothing to say
    assert report_statistics(None, wider) == (wider.report, [])  # a base without report: the PR's
    refused, (note,) = report_statistics("report:\n  confidence: 1.5\n", wider)
    assert refused.confidence == 0.999
    assert note.startswith("the base's report.confidence 1.5 is no longer valid (") and note.endswith(
        "); this PR's applies"
    )
