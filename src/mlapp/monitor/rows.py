"""monitor.json's rows and the monitor's error, apart from the comparison that makes them: the
report's schema (``mlapp monitor metrics``, the retraining PR's commands) reads a report, never
a table, so it imports no pandas, SciPy or pandera (about a CPU-second of each such process).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlapp.errors import UserError


class MonitorError(UserError):
    """Bad input to monitoring or retraining: the CLI exits 2 with this message."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" | "categorical"
    psi: float
    psi_threshold: float
    ks_statistic: float | None  # numerics only
    ks_pvalue: float | None
    missing_reference: float
    missing_batch: float
    largest_change: str  # the bin whose share moved most, for a reader
    drifted: bool
    why: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PredictionShift:
    """binary: P(positive); regression: the prediction; multiclass: PSI over predicted classes,
    mean and KS of the predicted class's probability (the model's confidence)."""

    psi: float
    threshold: float
    ks_statistic: float
    ks_pvalue: float
    mean_reference: float
    mean_batch: float
    positive_rate_reference: float | None  # binary: share at or above the decision threshold
    positive_rate_batch: float | None
    shifted: bool
    reference_rows: int = 0  # scores the batch is compared with
    class_shares_reference: dict[str, float] | None = None  # multiclass: predicted-class shares
    class_shares_batch: dict[str, float] | None = None


@dataclass(frozen=True)
class MetricDecay:
    metric: str
    reference: float
    batch: float
    change: float
    tolerance: float | str  # as monitor.decay_tolerance writes it: a number, or a share ("5%") of reference
    decayed: bool
    # The batch metric's bootstrap interval (report.confidence): a drop inside it is noise.
    batch_low: float | None = None
    batch_high: float | None = None


@dataclass(frozen=True)
class RuleCheck:
    rule: str  # one of decision.RULES
    triggered: bool
    value: float | None  # the statistic compared; None: not measurable (no importance)
    threshold: float | None  # None: turned off in params.yaml
    names: list[str] = field(default_factory=list)  # the features (metrics, for decay) behind it
    message: str = ""  # the reason, as the report and the retraining commit say it
