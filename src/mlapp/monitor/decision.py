"""Whether to retrain, and exactly why: five rules, each checked and reported, any one enough.

A share of the features alone weakens as tables widen (3 hard-shifted features of 40 are 7.5%,
under a 10% share) and counts a noise column like the model's strongest input. So:

- ``severe_feature``: one feature whose PSI reaches ``monitor.severe_psi`` retrains on its own:
  that far out, the model extrapolates (or a feed broke), whatever the table's width;
- ``drifted_importance``: the drifted features together hold ``monitor.drifted_importance`` of
  the model's total gain: moderate drift in what the model relies on counts, in noise does not;
- ``drifted_share``: many features drifting at once (a changed population), as before;
- ``prediction_shift`` and ``metric_decay``: the model's outputs and, with labels, its quality.

Every rule is reported, triggered or not, with its statistic, threshold and the features (or
metrics) behind it: the report says why it decided, and why not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlapp.markdown_table import code_span, number
from mlapp.metrics import round6
from mlapp.model import total_gain
from mlapp.monitor.rows import FeatureDrift, MetricDecay, PredictionShift, RuleCheck
from mlapp.params import MonitorParams
from mlapp.tolerances import tolerance_text

if TYPE_CHECKING:  # a type only: monitor.run imports XGBoost when it loads the model
    import xgboost as xgb

RULES = ("severe_feature", "drifted_importance", "drifted_share", "prediction_shift", "metric_decay")


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reasons: list[str]
    rules: list[RuleCheck]


def importance(booster: xgb.Booster, features: list[str]) -> dict[str, float] | None:
    """Each feature's share of the model's total gain (XGBoost's own, read from the model file);
    a feature no tree splits on has 0. None when no tree splits at all (nothing to weigh by)."""
    gain = total_gain(booster, features)
    total = sum(gain.values())
    if total <= 0:
        return None
    return {name: round6(gain[name] / total) for name in features}


def _severe(features: list[FeatureDrift], monitor: MonitorParams) -> RuleCheck:
    limit = monitor.severe_psi
    if limit is None:
        top = max((f.psi for f in features), default=0.0)
        return RuleCheck("severe_feature", False, top, None, message="off (monitor.severe_psi: null)")
    # A feature's own psi_by_feature threshold is the floor: a team that accepts moves to 0.8 in
    # a seasonal column is not alarmed at 0.6.
    floor = {f.feature: max(limit, f.psi_threshold) for f in features}
    hit = sorted((f for f in features if f.psi >= floor[f.feature]), key=lambda f: (-f.psi, f.feature))
    # The number shown is the feature nearest its own threshold (or furthest past it), with that
    # threshold: value >= threshold exactly when the rule fires, also with overrides.
    worst = max(features, key=lambda f: f.psi / floor[f.feature], default=None)
    value, threshold = (worst.psi, floor[worst.feature]) if worst else (0.0, limit)
    listed = ", ".join(f"{code_span(f.feature)} (PSI {f.psi:.3f})" for f in hit)  # Markdown: the PR body
    message = f"severe drift in {len(hit)} feature(s), PSI >= {limit}: {listed}" if hit else ""
    return RuleCheck("severe_feature", bool(hit), value, threshold, [f.feature for f in hit], message)


def _weighted(drifted: list[str], weights: dict[str, float] | None, monitor: MonitorParams) -> RuleCheck:
    limit = monitor.drifted_importance
    if weights is None:
        return RuleCheck("drifted_importance", False, None, limit, message="the model splits on no feature")
    held = round6(sum(weights.get(name, 0.0) for name in drifted))
    if limit is None:
        off = "off (monitor.drifted_importance: null)"
        return RuleCheck("drifted_importance", False, held, None, message=off)
    ranked = sorted(drifted, key=lambda name: (-weights.get(name, 0.0), name))
    listed = ", ".join(f"{code_span(name)} ({weights.get(name, 0.0):.1%})" for name in ranked)
    triggered = bool(drifted) and held >= limit
    message = f"drifted features hold {held:.1%} of the model's gain (>= {limit:.0%}): {listed}"
    return RuleCheck("drifted_importance", triggered, held, limit, ranked, message if triggered else "")


def _share(drifted: list[str], total: int, monitor: MonitorParams) -> RuleCheck:
    share = round6(len(drifted) / total)
    triggered = bool(drifted) and share >= monitor.drifted_share
    message = (
        f"{len(drifted)} of {total} features drifted ({share:.0%} >= {monitor.drifted_share:.0%}): "
        + ", ".join(map(code_span, drifted))
        if triggered
        else ""
    )
    return RuleCheck("drifted_share", triggered, share, monitor.drifted_share, list(drifted), message)


def _prediction(prediction: PredictionShift) -> RuleCheck:
    shifted, psi, limit = prediction.shifted, prediction.psi, prediction.threshold
    message = f"prediction PSI {psi:.3f} >= {limit}" if shifted else ""
    return RuleCheck("prediction_shift", shifted, psi, limit, [], message)


def _decay(decay: list[MetricDecay]) -> RuleCheck:
    """Value: how many watched metrics decayed; one is enough."""
    rows = [row for row in decay if row.decayed]
    whose = "metrics.json's"
    message = "; ".join(
        f"{r.metric} decayed {number(r.reference)} -> {number(r.batch)} "
        f"(tolerance {tolerance_text(r.tolerance, r.reference, whose)})"
        for r in rows
    )
    return RuleCheck("metric_decay", bool(rows), float(len(rows)), 1.0, [r.metric for r in rows], message)


def decide(
    features: list[FeatureDrift],
    weights: dict[str, float] | None,
    prediction: PredictionShift,
    decay: list[MetricDecay],
    monitor: MonitorParams,
) -> Decision:
    drifted = [f.feature for f in features if f.drifted]
    rules = [
        _severe(features, monitor),
        _weighted(drifted, weights, monitor),
        _share(drifted, len(features), monitor),
        _prediction(prediction),
        _decay(decay),
    ]
    reasons = [rule.message for rule in rules if rule.triggered]
    return Decision(bool(reasons), reasons, rules)
