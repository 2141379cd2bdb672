"""monitor.json, typed: what ``mlapp monitor run`` writes and every reader parses.

The rows reuse the comparison's own dataclasses (``FeatureDrift``, ``PredictionShift``,
``MetricDecay``, ``RuleCheck``, the validator's ``Problem``), so a field is named once. Unknown
or missing keys fail validation: a renamed key stops the writer or the reader with a clear
message instead of silently turning into a missing metric. ``schema_version`` changes when the format does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from mlapp.files import read_json
from mlapp.monitor.rows import FeatureDrift, MetricDecay, MonitorError, PredictionShift, RuleCheck
from mlapp.problem_row import Problem

SCHEMA_VERSION = 5  # 2: rules, importance, drifted_importance; 3: served.compared; 4: served.cut_line;
# 5: future (rows dated after the run)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceInfo(_Doc):
    features: str  # the training table the batch is compared with
    feature_rows: int
    scores: str  # the test table whose scores are the prediction reference
    score_rows: int  # scored rows in the reference: the test table, plus training rows when it is small
    metrics: str
    model_version: str


class Decay(_Doc):
    status: Literal["checked", "skipped"]
    why: str
    metrics: list[MetricDecay]


class Served(_Doc):
    model_versions: dict[str, int]
    current_model_version: str
    # The log field compared with this model's: P(positive) (binary), each class's probability
    # (multiclass: the largest difference over rows and classes), the prediction (regression: in
    # the label's unit).
    compared: Literal["probability", "probabilities", "prediction"]
    max_score_difference: float | None  # None: another model served some rows, or none logged a score
    cut_line: int | None  # the log's last line, cut short mid-write: left out (None: none was)


class Future(_Doc):
    """The batch's rows dated after the run (``monitor.future``): counted as the others are."""

    column: str  # data.time_column
    rows: int  # rows more than monitor.future_slack_s after the run's clock
    first_rows: list[int]  # the first of them, 0-based
    latest: str | None  # the latest such time (UTC, ISO 8601); None: no row is ahead
    most_ahead_s: float | None  # how far it is after the run's clock, in seconds


class MonitorReport(_Doc):
    schema_version: Literal[5]
    status: Literal["ok", "retrain"]
    retrain: bool
    reasons: list[str]  # the triggered rules' messages
    rules: list[RuleCheck]  # every rule, triggered or not: why it decided, and why not
    source: str
    format: str
    rows: int
    labeled_rows: int
    reference: ReferenceInfo
    thresholds: dict[str, Any]  # params.yaml `monitor:` as applied
    features: list[FeatureDrift]
    drifted_features: list[str]
    drifted_share: float
    importance: dict[str, float] | None  # each feature's share of the model's total gain
    drifted_importance: float | None  # the drifted features' share of it
    prediction: PredictionShift
    decay: Decay
    served: Served | None
    future: Future | None  # None: the batch has no event-time column


class InvalidReport(_Doc):
    """The batch failed validation: nothing was compared."""

    schema_version: Literal[5]
    status: Literal["invalid"]
    retrain: Literal[False]
    source: str
    rows: int
    problems: list[Problem]


Report = Annotated[MonitorReport | InvalidReport, Field(discriminator="status")]
_REPORT: TypeAdapter[MonitorReport | InvalidReport] = TypeAdapter(Report)


def parse(data: Mapping[str, Any], where: str = "monitor report") -> MonitorReport | InvalidReport:
    try:
        return _REPORT.validate_python(data)
    except ValidationError as exc:
        raise MonitorError(
            f"{where} does not match monitor.json schema version {SCHEMA_VERSION} "
            f"(written by another version of mlapp? run `mlapp monitor run` again):\n{exc}"
        ) from exc


def read(path: Path) -> MonitorReport | InvalidReport:
    if not path.is_file():
        raise MonitorError(f"monitor report {path} not found: run `mlapp monitor run` first")
    try:
        data = read_json(path)
    except ValueError as exc:  # cut short or not JSON: written by something else, or interrupted
        raise MonitorError(
            f"monitor report {path} is not JSON ({exc}): run `mlapp monitor run` again"
        ) from None
    return parse(data, str(path))


def dump(report: MonitorReport | InvalidReport) -> dict[str, Any]:
    return report.model_dump(mode="json")
