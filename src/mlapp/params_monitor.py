"""The ``monitor`` section of ``params.yaml``: drift thresholds, decay and the retraining PR.

Import it from ``mlapp.params`` like every other section (it re-exports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlapp.params_base import MetricName, Section, Tolerance


class RetrainParams(Section):
    branch: str = Field(min_length=1)  # the one pull request's head branch, force-updated
    base: str = Field(min_length=1)
    refresh: Literal["append", "replace", "import"]


class MonitorParams(Section):
    source: str | None  # path or URL of recent data; null until a team points it at production
    min_rows: int = Field(ge=1)
    bins: int = Field(ge=2)
    psi: float = Field(gt=0)
    psi_by_feature: dict[str, Annotated[float, Field(gt=0)]]  # overrides of psi
    ks_pvalue: float = Field(gt=0, lt=1)
    ks_statistic: float = Field(ge=0, le=1)
    severe_psi: float | None = Field(gt=0)  # one feature this far out retrains alone; null: off
    drifted_importance: float | None = Field(gt=0, le=1)  # share of the model's gain; null: off
    drifted_share: float = Field(gt=0, le=1)
    prediction_psi: float = Field(gt=0)
    # A batch repeating rows this much more often than the reference is refused (monitor.repeats)
    repeated_share: float = Field(ge=0, le=1)
    future_slack_s: float = Field(ge=0)  # event times this far ahead of the run's clock are not named
    min_reference_rows: int = Field(ge=1)  # fewer test rows: training rows' scores join the reference
    decay_tolerance: dict[MetricName, Tolerance]  # a number in the metric's units, or "5%" of metrics.json's
    decay_bootstrap_rows: int = Field(ge=1000)  # more labeled rows: decay on a seeded sample of this many
    chunk_rows: int = Field(ge=1)  # the batch is read, checked and counted this many rows at a time
    report_json: Path
    report_markdown: Path
    retrain: RetrainParams

    @field_validator("decay_tolerance")
    @classmethod
    def _can_retrain(cls, value: dict[MetricName, float | str]) -> dict[MetricName, float | str]:
        """A tolerance the metric can never exceed turns the decay rule off silently."""
        from mlapp.tolerances import tolerance_problem  # metrics imports numpy: only when needed

        problems = [
            f"{metric}: {problem}"
            for metric, tolerance in value.items()
            if (problem := tolerance_problem(metric, tolerance, "ask for retraining", "metrics.json's value"))
        ]
        if problems:
            raise ValueError("\n    ".join(problems))
        return value

    @model_validator(mode="after")
    def _severe_above_drift(self) -> MonitorParams:
        """A "severe" PSI under the drift PSI would retrain on a feature the report calls stable."""
        if self.severe_psi is not None and self.severe_psi < self.psi:
            raise ValueError(
                f"monitor.severe_psi {self.severe_psi} is below monitor.psi {self.psi}: severe drift "
                "must be at least drift (raise severe_psi, or null to turn the rule off)"
            )
        return self
