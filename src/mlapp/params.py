"""Typed view of ``params.yaml``: the only place paths and tunables are written.

Every section is a frozen pydantic model with ``extra="forbid"`` so a typo in
params.yaml fails loudly instead of silently falling back to something else.
The sections live in modules by domain (``params_data``: the table; ``params_train``: fitting,
tuning, evaluation; ``params_monitor``; ``params_release``: serving, report, gate, image,
delivery; ``params_base``: the shared base; ``params_yaml``: the file's text read as DVC reads
it); this module joins them into ``Params``, checks what spans sections, and loads the file.
Import everything from here.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from mlapp.errors import ParamsError
from mlapp.params_base import MetricName as MetricName
from mlapp.params_base import Section as Section
from mlapp.params_base import Task as Task
from mlapp.params_data import DataParams as DataParams
from mlapp.params_data import SampleDataParams as SampleDataParams
from mlapp.params_data import SplitParams as SplitParams
from mlapp.params_data import ValidateParams as ValidateParams
from mlapp.params_monitor import MonitorParams as MonitorParams
from mlapp.params_monitor import RetrainParams as RetrainParams
from mlapp.params_release import ArgoCDParams as ArgoCDParams
from mlapp.params_release import DeliveryParams as DeliveryParams
from mlapp.params_release import EnvName as EnvName
from mlapp.params_release import GateParams as GateParams
from mlapp.params_release import ImageParams as ImageParams
from mlapp.params_release import ReportParams as ReportParams
from mlapp.params_release import ServingParams as ServingParams
from mlapp.params_release import StandinBaseParams as StandinBaseParams
from mlapp.params_train import LOG_SCALE as LOG_SCALE
from mlapp.params_train import TRAIN_OWN as TRAIN_OWN
from mlapp.params_train import DaskParams as DaskParams
from mlapp.params_train import EvaluateParams as EvaluateParams
from mlapp.params_train import MlflowParams as MlflowParams
from mlapp.params_train import TrainParams as TrainParams
from mlapp.params_train import Tunable as Tunable
from mlapp.params_train import TunableTrain as TunableTrain
from mlapp.params_train import TunableXGBoost as TunableXGBoost
from mlapp.params_train import TuneParams as TuneParams
from mlapp.params_train import XGBoostParams as XGBoostParams
from mlapp.params_train import tuned_setting as tuned_setting
from mlapp.params_yaml import DEFAULT_PARAMS as DEFAULT_PARAMS
from mlapp.params_yaml import read_params_text as read_params_text


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
        if self.task != "regression" and self.train.regression_objective != "squarederror":
            raise ValueError(
                f"train.regression_objective {self.train.regression_objective} is a loss for task "
                f"regression; task {self.task} trains with XGBoost's log loss whatever it says: set it "
                "to squarederror (or task to regression)"
            )
        loss = self.train.regression_objective
        if "tweedie_variance_power" in self.tune.space and loss != "tweedie":
            raise ValueError(
                "tune.space.tweedie_variance_power searches train.tweedie_variance_power, which only "
                f"train.regression_objective tweedie uses (this file's is {loss}): remove it from "
                "tune.space, or set regression_objective to tweedie"
            )
        if self.train.engine == "dask" and self.task == "multiclass":
            raise ValueError("train.engine dask trains binary and regression models: use engine local")
        # A class needs a test row and a training row; the local engine's stratified validation
        # holdout one more (the Dask engine's partitions hold out unstratified when a class is short).
        least = 3 if self.train.engine == "local" else 2
        if self.task != "regression" and self.validate_.min_class_rows < least:
            engine, rows = self.train.engine, self.validate_.min_class_rows
            raise ValueError(
                f"validate.min_class_rows {rows} lets through a class that cannot be split and trained "
                f"on (train.engine {engine}): set it to at least {least}"
            )
        return self


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path} not found: run from the repository root or pass --params")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # was a traceback
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ParamsError(
            f"{path} is not UTF-8 text (line {line} holds the byte {exc.object[exc.start]:#04x}), as DVC and "
            "mlapp read it: save it as UTF-8, or restore the committed file with `git checkout -- "
            f"{path}`"
        ) from exc
    raw = read_params_text(text, path)
    if not isinstance(raw, dict):  # pydantic said "Input should be a valid dictionary" (got None)
        held = "nothing (empty, or only comments)" if raw is None else f"{raw!r:.60} where settings go"
        raise ParamsError(
            f"{path} holds {held}, not its settings (`name: value` lines: task, data, train, ...): "
            f"restore the committed file with `git checkout -- {path}`"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        from mlapp.params_words import merged  # only a refused file needs its words

        mistakes = [_mistake(error, raw.get("task")) for error in merged(exc.errors(), Params)]
        if len(mistakes) == 1 and "\n" not in mistakes[0]:  # one mistake: one line, no list of one
            raise ParamsError(f"{path} is invalid: {mistakes[0]}") from exc
        raise ParamsError(f"{path} is invalid:\n" + "\n".join(f"  - {m}" for m in mistakes)) from exc


def _metric_setting(loc: tuple[Any, ...]) -> str | None:
    """The setting a pydantic error location is, when that setting names a metric of the task."""
    if loc[:2] in (("tune", "metric"), ("gate", "primary_metric")):
        return ".".join(loc)
    if loc[:2] == ("monitor", "decay_tolerance") and loc[-1] == "[key]":
        return "monitor.decay_tolerance"
    return None


def _mistake(error: Mapping[str, Any], task: object) -> str:
    """One pydantic error as ``setting: what is wrong (got value)``; a check of several settings
    (a model validator) names them itself, and its input, the whole section, is not repeated.
    A misspelt metric name is said as another task's is: with the task's metrics, not all."""
    setting = _metric_setting(tuple(error["loc"]))
    if error["type"] == "literal_error" and setting and isinstance(task, str):
        from mlapp.metrics import TASK_METRICS, task_metric_problems  # numpy/sklearn: only when needed

        if task in TASK_METRICS:
            name = str(error["input"])
            # In TASK_METRICS but refused: a metric added to mlapp.metrics and not to MetricName.
            missing = f"{setting}: {name!r} is a metric of mlapp.metrics, not yet of params_base.MetricName"
            return next(iter(task_metric_problems(task, [(setting, name)])), missing)
    from mlapp.params_words import setting_name  # only a refused file needs its words

    where, said = setting_name(error["loc"]), setting_problem(error)
    if not where or said.startswith(f"{where}."):  # a section's check names its settings itself
        return said
    return f"{where}: {said}"


def setting_problem(error: Mapping[str, Any]) -> str:
    """What is wrong with the setting of a pydantic error on ``Params`` (its location from the top
    of the file), in the words of the CLI option's range (``params_words.must_be``), else in a
    validator's own, with the value as the file writes it. The report's words for a base's gate
    and report settings too (``mlapp.report.policy``)."""
    from mlapp.params_words import refused  # only a refused file needs its words

    value = error.get("input")
    if said := refused(error, Params, _as_written(value)):
        return said
    got = "" if isinstance(value, dict) or error["type"] == "value_error" else f" (got {_as_written(value)})"
    return f"{error_message(error)}{got}"


def _as_written(value: object) -> str:
    """A refused value as the file spells it: `max_depth:` and `max_depth: null` were "got None";
    a list where one value goes ([5, 6]) was left out; a date and .inf were Python's reprs."""
    if value is None:
        return "null (or nothing after the colon)"
    if isinstance(value, datetime.date):  # YAML reads 2024-01-01 (a column's name too) as a date
        return f"{value.isoformat()}, a date to YAML: quote a name spelt so"
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:59]}…"


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message; a validator's own words without pydantic's "Value error, "."""
    return str(error["msg"]).removeprefix("Value error, ")
