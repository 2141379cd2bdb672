"""Which gate decides a pull request: the base's, so a PR cannot pass by loosening its own.

The base's ``gate:`` is history, checked by this code: a setting the base does not have yet
takes the PR's value, and so does one this code refuses (a tolerance that could never fire, a
floor in another metric's units, a metric of another task, a setting that no longer exists).
The base's value could not be applied as it reads, and stopping the report would block the very
PR that mends it; the report says which setting that was and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mlapp.errors import UserError
from mlapp.markdown_table import number
from mlapp.metrics import REGISTRY, TASK_METRICS, higher_is_better
from mlapp.params import GateParams, Params, ReportParams, setting_problem
from mlapp.params_words import merged
from mlapp.report.changes import gate_section, params_value


@dataclass(frozen=True)
class Policy:
    gate: GateParams
    source: str  # which params.yaml it came from, in words
    notes: list[str] = field(default_factory=list)  # base settings no longer valid, and what applies


def _metrics(task: str) -> str:
    return f"task {task}'s are {', '.join(TASK_METRICS[task])}"


def _why(error: Mapping[str, Any], task: str) -> str:
    """Why a base's setting is refused, in words: for a metric name that is none, the task's."""
    if error["loc"] == ("primary_metric",) and error["type"] == "literal_error":  # not pydantic's every name
        return f"not a metric; {_metrics(task)}"
    return setting_problem({**error, "loc": ("gate", *error["loc"])})  # as params.yaml's errors say it


def gate_policy(base_params_text: str, params: Params) -> Policy:
    """The gate a PR with ``params`` is held to, given the base's params.yaml text."""
    section = gate_section(base_params_text)
    if section is None:
        return Policy(params.gate, "PR params.yaml (the base has no gate)")
    pr = params.gate.model_dump()
    added = [name for name in pr if name not in section]
    values = {**section, **{name: pr[name] for name in added}}
    replaced: dict[str, str] = {}  # setting -> why the base's value no longer holds
    while True:  # each round takes at least one more setting from the PR, or stops
        try:
            gate = GateParams.model_validate(values)
        except ValidationError as exc:
            errors = merged(exc.errors(), GateParams)  # a union's one error a member: one
            refused = {str(e["loc"][0]): _why(e, params.task) for e in errors if e["loc"]}
            # A check of the whole section, or the PR's own value refused beside the base's others.
            if any(not e["loc"] for e in errors) or refused.keys() & replaced.keys():
                listed = "\n".join(
                    f"  - {'.'.join(map(str, ('gate', *e['loc'])))}: {_why(e, params.task)}" for e in errors
                )
                raise UserError(f"the base's gate: section is invalid:\n{listed}") from exc
            for name, why in refused.items():
                replaced[name] = why
                if name in pr:
                    values[name] = pr[name]
                else:  # a setting this code no longer has
                    del values[name]
            continue
        # A metric of another task: the base's params.yaml was checked by older code, or not at all.
        if gate.primary_metric in TASK_METRICS[params.task] or "primary_metric" in replaced:
            break
        replaced["primary_metric"] = f"a metric of another task; {_metrics(params.task)}"
        values["primary_metric"] = pr["primary_metric"]
    parts = [f"+ this PR's new {', '.join(added)}"] if added else []
    parts += [f"this PR's {', '.join(replaced)}: the base's is no longer valid"] if replaced else []
    source = "base params.yaml" + (f" ({'; '.join(parts)})" if parts else "")
    notes = [
        f"the base's gate.{name} {section.get(name)!r} is no longer valid ({why}); "
        + (f"this PR's {pr[name]!r} applies" if name in pr else "it is ignored")
        for name, why in replaced.items()
    ]
    return Policy(gate, source, notes)


def kept_bound(base_params_text: str | None, params: Params) -> list[str]:
    """A note when this PR moves gate.primary_metric but keeps gate.min_primary: a bound inside the
    new metric's range is accepted (0.75 of a roc_auc is a valid rmse), and once merged it is read
    in the new metric's units. Said in the report even when nothing is compared (a task switch)."""
    section = gate_section(base_params_text) or {}
    old, new, bound = section.get("primary_metric"), params.gate.primary_metric, params.gate.min_primary
    if old not in REGISTRY or old == new or section.get("min_primary") != bound:
        return []  # not a metric at all: gate_policy names that
    role = "a floor" if higher_is_better(new) else "a ceiling (lower is better)"
    return [
        f"this PR moves gate.primary_metric from {old} to {new} but keeps gate.min_primary {number(bound)}: "
        f"for {new} it is {role} in {new}'s units, and once merged every PR is held to it"
    ]


@dataclass(frozen=True)
class ClassRows:
    """The validate.min_class_rows the few-test-rows warning is judged by, and how it is named."""

    least: int
    said: str  # e.g. "validate.min_class_rows: 10, the base's; this PR lowers it to 2"
    notes: list[str] = field(default_factory=list)


def class_rows_bound(base_params_text: str | None, params: Params) -> ClassRows:
    """The larger of the base's and the PR's validate.min_class_rows: like the gate, the warning
    that a class has too few compared rows is one a PR cannot silence by lowering its own bound
    (the base's applies until merged; a PR that raises it is held to its own). A base without a
    valid value (older, or not a count) leaves the PR's."""
    pr, base = params.validate_.min_class_rows, params_value(base_params_text, "validate", "min_class_rows")
    if not isinstance(base, int) or isinstance(base, bool) or base <= pr:
        return ClassRows(pr, f"validate.min_class_rows: {pr}")
    return ClassRows(
        base,
        f"validate.min_class_rows: {base}, the base's; this PR lowers it to {pr}",
        [
            f"This PR lowers validate.min_class_rows from {base} to {pr}; the few-test-rows warning "
            f"keeps the base's {base} until it is merged."
        ],
    )


# The settings that decide whether a change is significant: what the gate's
# require_significant reads, so a PR is judged by the base's, as by its gate.
STATISTICS = ("bootstrap_resamples", "bootstrap_seed", "confidence")


def statistic_text(name: str, value: float) -> str:
    """A setting of STATISTICS as the report prints it: the confidence as a percentage ("95% CI"),
    not as params.yaml holds it (a base's 0.8123456789); never "100%", which no valid one is (0.99999)."""
    if name != "confidence":
        return str(value)
    return next(f"{shown}%" for digits in range(4, 18) if (shown := f"{100 * value:.{digits}g}") != "100")


def report_statistics(base_params_text: str | None, params: Params) -> tuple[ReportParams, list[str]]:
    """The PR's report: settings with the base's STATISTICS, and a note for each the PR changes.

    A PR that widened its interval (report.confidence 0.999) or tried seeds until a drop was
    "not significant" passed a gate with require_significant; like the gate's, its own values
    apply once merged. A setting the base lacks, or holds as a value this code refuses, is the PR's.
    """
    pr = params.report
    section = params_value(base_params_text, "report")
    base = (
        {name: section[name] for name in STATISTICS if name in section} if isinstance(section, dict) else {}
    )
    kept: dict[str, Any] = {}
    notes = []
    for name, value in base.items():
        try:
            checked = getattr(ReportParams.model_validate({**pr.model_dump(), name: value}), name)
        except ValidationError as exc:
            error = exc.errors()[0]
            why = setting_problem({**error, "loc": ("report", *error["loc"])})
            notes.append(f"the base's report.{name} {value!r} is no longer valid ({why}); this PR's applies")
            continue
        if checked != getattr(pr, name):
            kept[name] = checked
            notes.append(
                f"This PR changes report.{name} from {statistic_text(name, checked)} to "
                f"{statistic_text(name, getattr(pr, name))}; the base's applies until it is merged."
            )
    return pr.model_copy(update=kept), notes
