"""How far a metric may worsen before a rule fires: ``gate.max_regression`` (against the base
model) and ``monitor.decay_tolerance`` (against metrics.json).

A tolerance is a number in the metric's units or a share of the value compared with ("2%");
params.yaml refuses one its metric could never exceed, which would switch the rule off silently.
"""

from __future__ import annotations

import math

from mlapp.metrics import REGISTRY, value_range


def _percent(share: str) -> float:
    """A share as params accepts it, "2%", as the number 2.0."""
    return float(share.removesuffix("%"))


def tolerance_amount(tolerance: float | str, reference: float) -> float:
    """How far a tolerance lets metric values worsen, in the metric's units: a number as written;
    a share ("2%") of the reference value (the base model's, or metrics.json's)."""
    if isinstance(tolerance, str):
        return _percent(tolerance) / 100 * abs(reference)
    return float(tolerance)


def headroom(name: str, base: float) -> float | None:
    """How far a metric can worsen from the base model's value (None: without bound). params.yaml
    refuses a tolerance as wide as the metric's range; one as wide as this headroom switches the
    rule off for this one base only, so the report says so instead."""
    metric = REGISTRY[name]
    room = base - metric.low if metric.higher_is_better else metric.high - base
    return None if room == float("inf") else room


def tolerance_text(tolerance: float | str, reference: float, whose: str) -> str:
    """A tolerance as written and in the other form: "0.005 (0.0207% of the base's 24.1)",
    "2% of the base's 30 (0.6)". An absolute 0.005 means little beside an rmse of 24, and a
    share hides how far that is in the metric's units. ``whose``: "the base's", "metrics.json's"."""
    amount = tolerance_amount(tolerance, reference)
    if isinstance(tolerance, str):
        return f"{tolerance} of {whose} {reference:.4g} ({amount:.4g})"
    if not reference:
        return f"{amount:.4g}"
    return f"{amount:.4g} ({100 * amount / abs(reference):.3g}% of {whose} {reference:.4g})"


def tolerance_problem(name: str, tolerance: float | str, effect: str, reference: str) -> str | None:
    """Why a tolerance of metric ``name`` (``gate.max_regression``, ``monitor.decay_tolerance``)
    would switch its rule off or cannot be meant (None when it is fine). ``effect``: what the
    rule does ("fail a pull request"); ``reference``: what a share is of ("the base model's value").

    Refused: a negative or infinite number, or nan; a number at least as wide as a bounded
    metric's range (an AUC cannot drop by more than 1, whatever the model: the rule could never
    fire); a share of 100% or more of a higher-is-better metric whose values are 0 or more (it
    cannot drop by more than its own value); any share of r2 (0 or negative: a share of it means
    nothing). A lower-is-better metric can rise without bound (rmse, log_loss), so any finite
    tolerance of it can fire."""
    metric = REGISTRY[name]
    drop = "drop" if metric.higher_is_better else "rise"
    off = f"so the rule could never {effect} (it would be off)"
    if isinstance(tolerance, str):
        share = _percent(tolerance)
        if metric.low < 0:
            return (
                f"{tolerance} is a share of {name}'s value, which can be 0 or negative "
                f"({value_range(name)}): the share means nothing; set a number, in {name}'s units"
            )
        if metric.higher_is_better and share >= 100:
            return (
                f"{tolerance} is not below 100%: {name} ({value_range(name)}) can never drop by more "
                f"than its own value, {off}; set a share below 100%"
            )
        return None
    if not math.isfinite(tolerance):  # .inf allows any change; nothing exceeds .nan
        return f"{tolerance:g} is no finite number, {off}; set a number, in {name}'s units"
    if tolerance < 0:
        return f"{tolerance:g} is negative: it is how far {name} may {drop}; set 0 or more"
    width = metric.high - metric.low
    if tolerance >= width:
        return (
            f"{tolerance:g} is not below the width of {name}'s range ({value_range(name)}): {name} can "
            f"never {drop} by more than {width:g}, {off}; set a value below {width:g}, in {name}'s units, "
            f'or a share of {reference} such as "2%"'
        )
    return None
