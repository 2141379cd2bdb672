"""The two models compared on the same rows, and the gate's verdict on it (``mlapp report run``).

Judged by the base's settings, not the PR's: its gate, its bootstrap statistics and its bound
on rows per class, so a PR cannot loosen the rule it is held to (``policy.py``).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from mlapp import metrics as m
from mlapp.errors import UserError
from mlapp.model import Model
from mlapp.params import Params, ReportParams
from mlapp.report import bootstrap, changes, compare, rows, target
from mlapp.report.champion import Champion
from mlapp.report.policy import ClassRows, class_rows_bound, gate_policy, kept_bound, report_statistics


@dataclasses.dataclass(frozen=True)
class Judged:
    """The comparison and the gate's verdict on it, by the base's settings (its gate, statistics
    and class-row bound: a PR cannot loosen the rule it is judged by)."""

    stats: ReportParams
    deltas: list[compare.MetricDelta]
    primary: compare.MetricDelta
    gate: compare.GateResult
    class_rows: ClassRows


def scored(
    champion: Champion, challenger: Model, pr_test: pd.DataFrame, params: Params, kept: list[str]
) -> rows.Scored:
    """The PR's test rows, or the base's copy of them for a base model that cannot read the PR's;
    a refusal names the bound the base kept too (``kept``), which may be why."""
    try:
        return rows.scored(champion, challenger, pr_test, params)
    except UserError as exc:
        if not kept:
            raise
        raise noted(str(exc), kept) from exc


def noted(reason: str, kept: list[str]) -> UserError:
    return UserError("\n".join([reason, *(f"note: {note}" for note in kept)]))


def refuse_early(base_params_text: str | None, challenger: Model, params: Params) -> None:
    """The refusals the base's params.yaml decides alone, in the words they have when found on the
    base's model, but before it is restored or rebuilt (minutes under load): another task or
    classes, then a base gate: section no setting of this PR's can stand in for."""
    if base_params_text is None or (base := target.of_params(base_params_text)) is None:
        return  # the base's model says it, once obtained
    # Not the label's name: a renamed column is compared, and only the base's rows tell a
    # rename from another column (``rows.renamed_label``).
    pr = target.of_model(challenger)
    if why := target.mismatch(dataclasses.replace(base, label=pr.label), pr):
        raise noted(why, kept_bound(base_params_text, params))
    gate_policy(base_params_text, params)


def judge(
    champion: Champion,
    challenger: Model,
    scored: rows.Scored,
    params: Params,
    params_text: str,
    kept: list[str],
) -> Judged:
    """Both models' metrics with bootstrap intervals, and the base's gate applied to the primary one."""
    task, classes = challenger.task, challenger.spec.classes
    stats, stats_notes = report_statistics(champion.params_text, params)  # the base's, as its gate
    deltas = compare.compare(
        scored.y,
        (scored.base, champion.model.spec.cutoff),
        (scored.pr, challenger.spec.cutoff),
        stats.bootstrap_resamples,
        stats.bootstrap_seed,
        stats.confidence,
        task,
        classes,
    )
    policy = gate_policy(champion.params_text, params)
    m.check_task_metric(task, policy.gate.primary_metric, f"gate.primary_metric ({policy.source})")
    undefined = compare.rmsle_notes(task, scored.y, scored.base, scored.pr, policy.gate.primary_metric)
    said = [name for name in bootstrap.metric_names(task, classes) if not (undefined and name == "rmsle")]
    undefined += compare.undefined_notes(deltas, said, len(scored.y), policy.gate.primary_metric)
    primary = next(d for d in deltas if d.name == policy.gate.primary_metric)
    gate = compare.gate(policy.gate, primary, stats.confidence, policy.source)
    class_rows = class_rows_bound(champion.params_text, params)
    # First, below the verdict it qualifies.
    wide = compare.wide_interval(primary, params.report.wide_ci_share, stats.confidence)
    notes = [*wide, *scored.notes, *undefined, *gate.notes, *policy.notes, *kept, *class_rows.notes]
    notes += stats_notes
    if changes.gate_section(params_text) != policy.gate.model_dump():
        notes.append("This PR changes `gate:` in params.yaml; the base's gate applies until it is merged.")
    return Judged(stats, deltas, primary, dataclasses.replace(gate, notes=notes), class_rows)
