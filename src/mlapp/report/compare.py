"""Champion vs challenger on the same rows: metric deltas, their intervals, the verdict, the gate.

Pure functions of labels, probabilities and params; nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from mlapp.metrics import LOWER_IS_BETTER, classification_metrics, round6
from mlapp.params import GateParams
from mlapp.report import bootstrap
from mlapp.report.schema import BETTER, SAME, WORSE, Change, GateResult, MetricDelta

# The result types live with the report's schema (one definition); re-exported here.
__all__ = ["BETTER", "SAME", "WORSE", "GateResult", "MetricDelta", "change_of", "compare", "gate"]


def change_of(ci_low: float, ci_high: float, higher_is_better: bool) -> Change:
    """Significant when the whole interval lies on one side of zero."""
    if ci_low > 0 or ci_high < 0:
        improved = (ci_low > 0) == higher_is_better
        return BETTER if improved else WORSE
    return SAME


def compare(
    y: np.ndarray,
    base: tuple[np.ndarray, float],
    pr: tuple[np.ndarray, float],
    resamples: int,
    seed: int,
    confidence: float,
) -> list[MetricDelta]:
    """Observed metrics of both models plus a paired-bootstrap interval of each difference."""
    base_scores = classification_metrics(y, *base)
    pr_scores = classification_metrics(y, *pr)
    deltas = bootstrap.paired_deltas(y, base, pr, resamples, seed)
    rows = []
    for name in bootstrap.METRICS:
        low, high = bootstrap.percentile_interval(deltas[name], confidence)
        higher = name not in LOWER_IS_BETTER
        low, high = round6(low), round6(high)
        rows.append(
            MetricDelta(
                name=name,
                base=base_scores[name],
                pr=pr_scores[name],
                delta=round6(pr_scores[name] - base_scores[name]),
                ci_low=low,
                ci_high=high,
                higher_is_better=higher,
                change=change_of(low, high, higher),
            )
        )
    return rows


def gate(policy: GateParams, primary: MetricDelta, confidence: float, policy_source: str) -> GateResult:
    """The merge rule: a floor for the primary metric and a bound on how far it may drop."""
    name = primary.name
    reasons, notes = [], []
    if primary.pr < policy.min_primary:
        reasons.append(f"{name} {primary.pr:.4f} is below the minimum {policy.min_primary:.4f}")
    drop = round6(-primary.delta)
    if drop > policy.max_regression:
        interval = f"{confidence:.0%} CI of the change [{primary.ci_low:+.4f}, {primary.ci_high:+.4f}]"
        significant = primary.change == WORSE
        if significant or not policy.require_significant:
            allowed = policy.max_regression
            reasons.append(f"{name} dropped by {drop:.4f}, more than the allowed {allowed:.4f} ({interval})")
        else:
            notes.append(
                f"{name} dropped by {drop:.4f} (allowed {policy.max_regression:.4f}) but the drop is "
                f"not significant ({interval}); not blocking because gate.require_significant is true"
            )
    return GateResult(not reasons, reasons, notes, policy.model_dump(), policy_source)
