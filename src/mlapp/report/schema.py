"""report.json, typed: what ``mlapp report run`` writes and ``mlapp report gate`` reads.

``MetricDelta`` and ``GateResult`` are the comparison's own result types (mlapp.report.compare
re-exports them), so each field is named once. Unknown or missing keys fail validation: a
renamed key stops the writer, or the gate, with a clear message. The sections only the
Markdown renders (curves, changes, lineage, ...) stay plain JSON objects. ``schema_version``
changes when the format does (1 was written under the key ``schema``).

Kept light (pydantic only): the gate step reads this without the scientific stack.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mlapp.errors import UserError

SCHEMA_VERSION = 3  # 3: bootstrap.paired_by
BETTER: Final = "better"
SAME: Final = "no significant change"
WORSE: Final = "worse"
Change = Literal["better", "no significant change", "worse"]


class ReportFormatError(UserError, ValueError):
    """report.json does not match this version's schema."""


@dataclass(frozen=True)
class MetricDelta:
    name: str
    base: float
    pr: float
    delta: float  # pr - base
    ci_low: float
    ci_high: float
    higher_is_better: bool
    change: Change  # from the interval

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # why it failed; empty when it passed
    notes: list[str]  # what a reviewer should know that did not fail the gate
    policy: dict[str, Any]
    policy_source: str  # which params.yaml the policy came from

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bootstrap(_Doc):
    resamples: int
    seed: int
    confidence: float
    rows: int
    # The base model scored the base's copy of each of those rows, paired by this (a PR that
    # removed or retyped a feature: mlapp.report.rows); None: the PR's test rows as they are.
    paired_by: str | None
    positives: int | None  # binary only
    identical_predictions: bool


class Report(_Doc):
    schema_version: Literal[3]
    task: Literal["binary", "multiclass", "regression"] = "binary"
    classes: list[str] = []  # class names in the models' order (empty for regression)
    verdict: Change
    primary_metric: str
    gate: GateResult
    metrics: list[MetricDelta]
    bootstrap: Bootstrap
    warnings: list[str]
    changes: dict[str, Any]
    curves: dict[str, Any]
    models: dict[str, Any]
    lineage: dict[str, Any]
    drift_rules: dict[str, Any]
    calibration_bins: int
    run: dict[str, Any]  # measured in this run (latency, champion timing): varies between runs

    def primary(self) -> MetricDelta:
        return next(m for m in self.metrics if m.name == self.primary_metric)


# The heading of the report written when there was no comparison (report.no_comparison)
NO_COMPARISON = "## ⚪ No comparison with the base"


def parse(data: Any, where: str = "report") -> Report:
    try:
        report = Report.model_validate(data)
    except ValidationError as exc:
        raise ReportFormatError(
            f"{where} does not match report.json schema version {SCHEMA_VERSION} "
            f"(written by another version of mlapp? run `mlapp report run` again):\n{exc}"
        ) from exc
    if not any(m.name == report.primary_metric for m in report.metrics):
        raise ReportFormatError(f"{where}: primary metric {report.primary_metric!r} has no row in metrics")
    return report


def read(path: Path) -> Report:
    if not path.is_file():
        markdown = path.with_name("report.md")
        if markdown.is_file() and markdown.read_text(encoding="utf-8").startswith(NO_COMPARISON):
            # `make report` ran and stopped before comparing: "run it first" would send you round in a circle
            raise UserError(f"no gate decision: the last report made no comparison ({markdown} says why)")
        raise UserError(f"{path} not found: run `make report` (mlapp report run) first")
    return parse(json.loads(path.read_text()), str(path))


def dump(report: Report) -> dict[str, Any]:
    return report.model_dump(mode="json")
