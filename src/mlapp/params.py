"""Typed view of ``params.yaml``: the only place paths and tunables are written.

Every section is a frozen pydantic model with ``extra="forbid"`` so a typo in
params.yaml fails loudly instead of silently falling back to something else.
The pipeline and monitor sections are here; the serving, report, gate, image and delivery
ones in ``params_release``, the shared base in ``params_base``: import any of them from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from mlapp.cells import class_text, missing_clash
from mlapp.errors import ParamsError
from mlapp.params_base import MetricName as MetricName
from mlapp.params_base import OneColumn
from mlapp.params_base import Section as Section
from mlapp.params_base import Task as Task
from mlapp.params_release import ArgoCDParams as ArgoCDParams
from mlapp.params_release import DeliveryParams as DeliveryParams
from mlapp.params_release import EnvName as EnvName
from mlapp.params_release import GateParams as GateParams
from mlapp.params_release import ImageParams as ImageParams
from mlapp.params_release import ReportParams as ReportParams
from mlapp.params_release import ServingParams as ServingParams
from mlapp.params_release import StandinBaseParams as StandinBaseParams

DEFAULT_PARAMS = Path("params.yaml")


class DataParams(Section):
    raw: Path
    id_column: str | None  # null when the table has no row id
    time_column: str | None  # null when the table has no event time
    label: OneColumn
    classes: list[str] | None  # class order; null: the label's sorted values (binary: 2nd is positive)
    missing_label: Literal["drop", "fail"]
    missing_values: list[str]  # CSV cells read as missing (exactly these strings)
    csv_separator: str  # the one character between a CSV's fields (',' or e.g. ';')
    ignore_columns: list[str]  # columns of data.raw read past (not checked, not kept): no feature

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: object) -> object:
        """Classes spelt as the labels' text is (``class_text``: 1 and "1.0" are "1"); a boolean
        is an unquoted yes/no that YAML turned into true/false, which no text label equals."""
        if not isinstance(value, list):
            return value
        if any(isinstance(v, bool) for v in value):
            raise ValueError(
                f"{value}: YAML reads an unquoted yes/no, true/false or on/off as a "
                "boolean, not as your labels' text: quote them: ['no', 'yes']"
            )
        return [class_text(v) for v in value]

    @field_validator("missing_values", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ValueError(f"{value}: YAML reads an unquoted null, true or 1 as no text: quote each entry")
        return value

    @field_validator("csv_separator")
    @classmethod
    def _one_separator(cls, value: str) -> str:
        """One character that cannot be part of a value (a letter, digit, '.'), a quote or a line break."""
        if len(value) != 1 or value.isalnum() or value in "\"'.-_\r\n ":
            raise ValueError(
                f"{value!r} is not a CSV separator: use one character such as ',' or ';' "
                "(not a letter, digit, quote, '.', '-', '_', space or line break)"
            )
        return value

    @model_validator(mode="after")
    def _distinct_classes(self) -> DataParams:
        if self.classes is not None and (
            len(set(self.classes)) != len(self.classes) or len(self.classes) < 2
        ):
            raise ValueError(f"data.classes must name at least two distinct classes, got {self.classes}")
        clash = missing_clash("data.classes", self.classes or [], self.missing_values)
        if clash:
            raise ValueError(clash)
        return self


class SampleDataParams(Section):
    rows: int = Field(gt=0)
    seed: int


class ValidateParams(Section):
    output: Path
    report: Path
    min_rows: int = Field(ge=1)
    max_failure_examples: int = Field(ge=1)
    max_null_share: float = Field(ge=0, le=1)  # per column; an entirely empty column always fails
    max_null_share_by_column: dict[str, float]  # overrides of max_null_share
    min_class_rows: int = Field(ge=1)  # binary and multiclass: rows every class needs
    chunk_rows: int = Field(ge=1)  # rows read (and held as text) at a time


class SplitParams(Section):
    method: Literal["hash", "stratified", "time"]
    test_size: float = Field(gt=0, lt=1)
    seed: int
    train: Path
    test: Path


class XGBoostParams(Section):
    n_estimators: int = Field(gt=0)
    max_depth: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    subsample: float = Field(gt=0, le=1)
    colsample_bytree: float = Field(gt=0, le=1)
    min_child_weight: float = Field(ge=0)
    reg_lambda: float = Field(ge=0)
    max_cat_to_onehot: int = Field(ge=1)
    tree_method: Literal["hist", "approx", "exact"]
    device: str
    n_jobs: int = Field(ge=1)


class DaskParams(Section):
    scheduler: str | None  # address of a running cluster; None: a LocalCluster on this machine
    workers: int = Field(ge=1)
    threads_per_worker: int = Field(ge=1)
    partition_rows: int = Field(ge=1)

    def resolved_scheduler(self) -> str | None:
        """Dask's own variable wins, so CI targets a cluster without editing params.yaml."""
        return os.environ.get("DASK_SCHEDULER_ADDRESS") or self.scheduler


class TrainParams(Section):
    model_dir: Path
    engine: Literal["local", "dask"]
    dask: DaskParams
    seed: int
    valid_size: float = Field(gt=0, lt=1)
    early_stopping_rounds: int = Field(ge=1)
    threshold_metric: Literal["f1", "fixed"]
    fixed_threshold: float = Field(gt=0, lt=1)
    xgboost: XGBoostParams


TunableXGBoost = Literal[
    "n_estimators",
    "max_depth",
    "learning_rate",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "reg_lambda",
]


class TuneParams(Section):
    trials: int = Field(ge=1)
    timeout_s: float = Field(gt=0)  # no new trial starts after this
    seed: int
    metric: MetricName  # of the task; scored on the validation rows of the training part, never on test
    space: dict[TunableXGBoost, tuple[float, float]]  # train.xgboost.<name>: [low, high]

    @model_validator(mode="after")
    def _ranges(self) -> TuneParams:
        empty = [name for name, (low, high) in self.space.items() if not low < high]
        if empty or not self.space:
            raise ValueError(f"tune.space needs at least one [low, high] range with low < high: {empty}")
        return self


class EvaluateParams(Section):
    metrics: Path
    plots_dir: Path
    curve_points: int = Field(ge=2)
    calibration_bins: int = Field(ge=2)
    scatter_points: int = Field(ge=2)  # regression: test rows in the predicted-vs-actual plot
    residual_bins: int = Field(ge=2)  # regression: bars of the residual histogram


class MlflowParams(Section):
    tracking_uri: str
    experiment: str
    model_name: str

    def resolved_tracking_uri(self) -> str:
        """The environment wins so CI and teams point at a server without editing the file.

        A relative sqlite path is the project's file: DVC runs queued and parallel experiments
        in a temporary copy of the repository (thrown away afterwards) and names the project
        it came from in ``DVC_ROOT``, so ``sqlite:///mlflow.db`` is anchored there.
        """
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/") and os.environ.get("DVC_ROOT"):
            return prefix + str(Path(os.environ["DVC_ROOT"]).resolve() / uri.removeprefix(prefix))
        return uri


class RetrainParams(Section):
    branch: str = Field(min_length=1)  # the one pull request's head branch, force-updated
    base: str = Field(min_length=1)
    refresh: Literal["append", "replace", "import"]


class MonitorParams(Section):
    source: str | None  # path or URL of recent data; null until a team points it at production
    min_rows: int = Field(ge=1)
    bins: int = Field(ge=2)
    psi: float = Field(gt=0)
    psi_by_feature: dict[str, float]
    ks_pvalue: float = Field(gt=0, lt=1)
    ks_statistic: float = Field(ge=0, le=1)
    severe_psi: float | None = Field(gt=0)  # one feature this far out retrains alone; null: off
    drifted_importance: float | None = Field(gt=0, le=1)  # share of the model's gain; null: off
    drifted_share: float = Field(gt=0, le=1)
    prediction_psi: float = Field(gt=0)
    min_reference_rows: int = Field(ge=1)  # fewer test rows: training rows' scores join the reference
    decay_tolerance: dict[MetricName, float]
    report_json: Path
    report_markdown: Path
    retrain: RetrainParams

    @model_validator(mode="after")
    def _severe_above_drift(self) -> MonitorParams:
        """A "severe" PSI under the drift PSI would retrain on a feature the report calls stable."""
        if self.severe_psi is not None and self.severe_psi < self.psi:
            raise ValueError(
                f"monitor.severe_psi {self.severe_psi} is below monitor.psi {self.psi}: severe drift "
                "must be at least drift (raise severe_psi, or null to turn the rule off)"
            )
        return self


class Params(Section):
    task: Task
    data: DataParams
    sample_data: SampleDataParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    tune: TuneParams
    mlflow: MlflowParams
    monitor: MonitorParams
    serving: ServingParams
    delivery: DeliveryParams
    image: ImageParams
    report: ReportParams
    gate: GateParams

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> Params:
        from mlapp.metrics import task_metric_problems  # metrics imports numpy/sklearn: only when needed

        named = [("gate.primary_metric", self.gate.primary_metric)]
        named += [("monitor.decay_tolerance", name) for name in self.monitor.decay_tolerance]
        named += [("tune.metric", self.tune.metric)]
        if problems := task_metric_problems(self.task, named):  # all at once: a new task moves them all
            raise ValueError("\n  - ".join(problems))
        if self.task == "binary" and self.data.classes is not None and len(self.data.classes) != 2:
            raise ValueError(f"task binary needs exactly two data.classes, got {self.data.classes}")
        if self.task == "regression" and self.data.classes is not None:
            raise ValueError("data.classes is for classification: set it to null for task regression")
        if self.split.method == "time" and not self.data.time_column:
            raise ValueError("split.method time needs data.time_column (the event time to split by)")
        if self.train.engine == "dask" and self.task != "binary":
            raise ValueError("train.engine dask trains binary models only: use engine local")
        return self


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found: run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:  # its text names the line and column
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{path} is invalid:\n" + "\n".join(map(_mistake, exc.errors()))) from exc


def _mistake(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``setting: what is wrong (got value)``; a check of several settings
    (a model validator) names them itself, and its input, the whole section, is not repeated."""
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    got = "" if isinstance(value, dict | list) or error["type"] == "value_error" else f" (got {value!r})"
    return f"  - {where}: {message}{got}" if where else f"  - {message}{got}"
