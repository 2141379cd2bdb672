"""Champion vs challenger on the same rows: metric deltas, their intervals, the verdict, the gate.

Pure functions of labels, probabilities and params; nothing here reads files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from mlapp.errors import UserError
from mlapp.markdown_table import number
from mlapp.metrics import AT_THRESHOLD, flat, higher_is_better, rmsle_undefined, round6, task_metrics
from mlapp.model import Model
from mlapp.params import GateParams
from mlapp.report import bootstrap, target
from mlapp.report.schema import BETTER, SAME, WORSE, Change, GateResult, MetricDelta
from mlapp.tolerances import headroom, tolerance_amount, tolerance_text

# The result types live with the report's schema (one definition); re-exported here.
__all__ = [
    "BETTER",
    "SAME",
    "WORSE",
    "GateResult",
    "MetricDelta",
    "change_of",
    "compare",
    "gate",
    "rmsle_notes",
    "same_task",
    "type_changes",
    "undefined_notes",
    "wide_interval",
]


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
    task: str = "binary",
    classes: list[str] | None = None,
) -> list[MetricDelta]:
    """Observed metrics of both models plus a paired-bootstrap interval of each difference.

    ``y`` holds class indices (regression: values); ``base``/``pr`` are (scores, threshold).
    """
    names = classes or []
    base_scores = flat(task_metrics(task, y, base[0], base[1], names))
    pr_scores = flat(task_metrics(task, y, pr[0], pr[1], names))
    deltas = bootstrap.paired_deltas(y, base, pr, resamples, seed, task, names)
    rows = []
    for name, values in deltas.items():
        # Undefined for these rows (rmsle of a value at most -1, r2 of one row): no row, as
        # report.json holds no NaN; ``rmsle_notes`` and ``undefined_notes`` say why.
        if not np.isfinite([base_scores.get(name, np.nan), pr_scores.get(name, np.nan)]).all():
            continue
        low, high = bootstrap.percentile_interval(values, confidence)
        if not np.isfinite([low, high]).all():  # defined on the rows, in no resample of them
            continue
        higher = higher_is_better(name)
        low, high = round6(low), round6(high)
        rows.append(
            MetricDelta(
                name=name,
                base=round6(base_scores[name]),
                pr=round6(pr_scores[name]),
                delta=round6(pr_scores[name] - base_scores[name]),
                ci_low=low,
                ci_high=high,
                higher_is_better=higher,
                change=change_of(low, high, higher),
            )
        )
    return rows


def rmsle_notes(task: str, y: np.ndarray, base: np.ndarray, pr: np.ndarray, primary: str) -> list[str]:
    """Why rmsle is not compared (a label or a model's prediction at most -1), as a report note;
    [] when it is. A UserError when the gate is on rmsle: it has no value to judge the PR by."""
    if task != "regression":
        return []
    named = {"label": y, "base model's prediction": base, "PR model's prediction": pr}
    if (why := rmsle_undefined(named)) is None:
        return []
    where = f"{why} (0-based rows of the compared test rows)"
    if primary == "rmsle":
        raise UserError(
            f"gate.primary_metric is rmsle, but {where}: gate on rmse or mae; for a label that is "
            "never negative, train.regression_objective tweedie or gamma predicts above 0"
        )
    return [f"rmsle is not compared: {where}."]


def undefined_notes(deltas: list[MetricDelta], names: list[str], rows: int, primary: str) -> list[str]:
    """The metrics of ``names`` that ``compare`` left out as undefined on the ``rows`` compared
    (r2 of one row, roc_auc of one class), as a report note; [] when each has its row. A UserError
    when the gate's metric is one: a NaN failed no floor and no bound, so the gate passed on it."""
    shown = {d.name for d in deltas}
    if not (missing := [name for name in names if name not in shown]):
        return []
    where = f"undefined on the {rows:,} compared test rows (too few rows, or a class without any)"
    if primary in missing:
        raise UserError(
            f"gate.primary_metric {primary} is {where}: there is no value to judge the PR by; give the "
            "test set more rows (split.test_size, or more data)"
        )
    return [f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not compared: {where}."]


def gate(policy: GateParams, primary: MetricDelta, confidence: float, policy_source: str) -> GateResult:
    """The merge rule: a floor for the primary metric (a ceiling when lower is better) and a bound
    on how far it may worsen."""
    name = primary.name
    reasons, notes = [], []
    higher = primary.higher_is_better
    if (primary.pr < policy.min_primary) if higher else (primary.pr > policy.min_primary):
        side = "below the minimum" if higher else "above the maximum"
        setting = "gate.min_primary" if higher else f"gate.min_primary, a ceiling for {name}, in its units"
        reason = f"{name} {number(primary.pr)} is {side} {number(policy.min_primary)} ({setting})"
        # A ceiling the base's model misses too: most likely kept when the metric changed (0.75 of a
        # roc_auc is a valid rmse), which would fail every PR whatever its model.
        if not higher and primary.base > policy.min_primary:
            reason += (
                f"; the base's model is above it too ({number(primary.base)}): kept from another metric? "
                f"set a ceiling in {name}'s units"
            )
        reasons.append(reason)
    drop = round6(-primary.delta if higher else primary.delta)
    worse = "dropped" if higher else "rose"
    allowed = tolerance_amount(policy.max_regression, primary.base)
    text = tolerance_text(policy.max_regression, primary.base, "the base's")  # 0.005 of an rmse of 24
    if drop > allowed:
        low, high = number(primary.ci_low, signed=True), number(primary.ci_high, signed=True)
        interval = f"{confidence:.0%} CI of the change [{low}, {high}]"
        significant = primary.change == WORSE
        if significant or not policy.require_significant:
            reasons.append(f"{name} {worse} by {number(drop)}, more than the allowed {text}; {interval}")
        else:
            notes.append(
                f"{name} {worse} by {number(drop)}, more than the allowed {text}, but the "
                f"{'drop' if higher else 'rise'} is "
                f"not significant ({interval}); not blocking because gate.require_significant is true"
            )
    if (room := headroom(name, primary.base)) is not None and allowed >= room:
        notes.append(
            f"gate.max_regression allows {text}, but {name} can {'drop' if higher else 'rise'} by at "
            f"most {room:.4g} from the base's {primary.base:.4g}: against this base the regression "
            "rule cannot fail; tighten it"
        )
    return GateResult(not reasons, reasons, notes, policy.model_dump(), policy_source)


def wide_interval(primary: MetricDelta, share: float, confidence: float) -> list[str]:
    """A note when the primary metric's CI of the change is wider than ``share`` of the base's value
    (report.wide_ci_share): the verdict then says little either way. With rare positives a metric
    taken at each model's threshold (f1) moves with a few rows (docs/pr-report.md, Rare positives)."""
    width, base, name = primary.ci_high - primary.ci_low, primary.base, primary.name
    if width <= share * abs(base):  # a base of 0 with a zero-width interval: nothing moved
        return []
    of = f"{width / abs(base):.0%} of the base's {number(base)}" if base else f"beside a base {name} of 0"
    hint = (
        f"; {name} is taken at each model's threshold, which moves between trainings when positives are "
        "few: gate on pr_auc (docs/pr-report.md, Rare positives)"
        if name in AT_THRESHOLD
        else ""
    )
    return [
        f"{name} is unstable on these rows: its {confidence:.0%} CI of the change spans {number(width)}, "
        f"{of} (more than report.wide_ci_share {share:.0%}), so the verdict says little either way{hint}"
    ]


def same_task(
    base: Model, pr: Model, base_scores: Callable[[], np.ndarray], label_checked: bool = False
) -> np.ndarray:
    """The base model's scores in the PR's class order; an error when the two cannot be compared.
    ``base_scores`` runs once task and classes match: a base of another task usually needs other
    features too, and the task is the reason to name. ``label_checked``: a renamed label column
    whose values are the base's (``rows.renamed_label``)."""
    theirs = target.of_model(base)
    if label_checked:
        theirs = dataclasses.replace(theirs, label=pr.spec.label)
    if why := target.mismatch(theirs, target.of_model(pr)):
        raise UserError(why)
    if base.spec.classes == pr.spec.classes:
        return base_scores()
    return base_scores()[:, [base.spec.classes.index(c) for c in pr.spec.classes]]


def type_changes(model: Model, rows: pd.DataFrame) -> list[str]:
    """Features ``model`` reads as another kind than ``rows`` hold: a schema.py type change (a count
    that became levels, or back). The model cannot score such a column: text does not parse as a
    number, and numbers match none of its text levels (every row would be scored as missing)."""
    changed = []
    for name in model.spec.features:
        text = not (pd.api.types.is_numeric_dtype(rows[name]) or pd.api.types.is_bool_dtype(rows[name]))
        if (name in model.spec.categories) != text:
            held, read = ("text", "a number") if text else ("numbers", "a category")
            changed.append(f"{name!r} (read as {read}, the PR's rows hold {held})")
    return changed
