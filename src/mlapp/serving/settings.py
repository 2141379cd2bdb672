"""The service's settings, built once when the service module is loaded (never per request).

``bentoml serve`` imports the service module and BentoML's decorator needs the worker
count and traffic limits then; everything else the workers read comes from the same
``Settings`` object: the part of params.yaml serving reads (``ServingConfig``), the model
folder (``$MLAPP_MODEL_DIR``), the prediction log (``$MLAPP_PREDICTION_LOG``), all paths
made absolute against the directory the service was started from.

``ServingConfig`` comes from ``$MLAPP_PARAMS`` or ``./params.yaml`` in the source tree;
a bento carries no params.yaml, only ``CONFIG_FILE``, which ``mlapp serving bento`` writes
from the loaded params (so the image holds no pipeline, tracking or delivery settings).

``workers: auto`` is the container's CPU limit: cgroup v2 ``cpu.max`` (or v1
``cpu.cfs_quota_us``/``cpu.cfs_period_us``), rounded up, never more than the CPUs the
process may run on. In Kubernetes that is ``resources.limits.cpu`` of infra/base.

``max_row_bytes: auto`` is the longest row the served schema (``mlapp.schema.FEATURES``, the
one the request parser checks) allows in a reasonably written body (``row_width.widest_row``):
rows grow with the schema, and a fixed number refused valid requests of wide tables.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from mlapp.errors import ParamsError
from mlapp.params import DEFAULT_PARAMS, Params, Section, ServingParams, load_params
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV, PREDICTION_LOG_ENV
from mlapp.serving.admission import BodyBudget, BodyCap
from mlapp.serving.row_width import widest_row

CGROUP = Path("/sys/fs/cgroup")
CONFIG_FILE = Path("build/serving.json")  # what a bento carries instead of params.yaml
# auto never goes below the fixed cap it replaced: small schemas keep their room for odd spacing.
AUTO_MIN_ROW_BYTES = 1024


class ServingConfig(Section):
    """The settings the service and the batch scorer read, taken from params.yaml."""

    serving: ServingParams
    model_dir: Path  # train.model_dir
    metrics: Path  # evaluate.metrics, served by /metadata
    id_column: str | None  # data.id_column, carried into scored rows
    time_column: str | None  # data.time_column: a record carrying it is told it is not a feature
    group_column: str | None = None  # data.group_column, likewise (a bento built before it has none)
    # data.ignore_columns, likewise; a bento built before this setting was carried has none
    ignore_columns: list[str] = Field(default_factory=list)
    missing_values: list[str]  # data.missing_values: a CSV to score is read as training read its table
    csv_separator: str  # data.csv_separator, likewise
    decimal: str  # data.decimal, likewise

    @classmethod
    def of(cls, params: Params) -> ServingConfig:
        return cls(
            serving=params.serving,
            model_dir=params.train.model_dir,
            metrics=params.evaluate.metrics,
            id_column=params.data.id_column,
            time_column=params.data.time_column,
            group_column=params.data.group_column,
            ignore_columns=params.data.ignore_columns,
            missing_values=params.data.missing_values,
            csv_separator=params.data.csv_separator,
            decimal=params.data.decimal,
        )

    def write(self, path: Path = CONFIG_FILE) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path


def read_config(
    params: Path | None = None, environ: Mapping[str, str] = os.environ, root: Path | None = None
) -> ServingConfig:
    """``params``, else ``$MLAPP_PARAMS``, else ``./params.yaml``, else a bento's ``CONFIG_FILE``."""
    root = root or Path.cwd()
    explicit = params or environ.get(PARAMS_ENV)
    if explicit or (root / DEFAULT_PARAMS).is_file():
        return ServingConfig.of(load_params(explicit or root / DEFAULT_PARAMS))
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ParamsError(f"neither {root / DEFAULT_PARAMS} nor {path}: run from the project or a bento")
    try:
        return ServingConfig.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise ParamsError(f"{path} is invalid (rebuild the bento):\n{exc}") from exc


@dataclass(frozen=True)
class Settings:
    serving: ServingParams
    root: Path  # where the service started: relative params paths mean this directory
    model_dir: Path
    metrics_file: Path
    lineage_file: Path
    prediction_log: Path
    workers: int
    id_column: str | None  # data.id_column: a record carrying it is told it is not a feature
    time_column: str | None  # data.time_column, likewise
    group_column: str | None  # data.group_column, likewise
    ignore_columns: list[str]  # data.ignore_columns, likewise
    body_cap: BodyCap  # serving.max_rows x max_row_bytes, auto resolved for the served schema
    body_budget: BodyBudget  # serving.max_body_bytes_in_flight: this worker's, one per process


def cpu_limit(cgroup: Path = CGROUP) -> float | None:
    """CPUs the cgroup quota allows, or None without a quota."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(workers: int | str, limit: float | None, cpus: int) -> int:
    if isinstance(workers, int):
        return workers
    return max(1, min(cpus, math.ceil(limit))) if limit else max(1, cpus)


def body_cap(serving: ServingParams, features: Mapping[str, Any] = FEATURES) -> BodyCap:
    """``serving.max_rows`` rows of ``max_row_bytes``, ``auto`` resolved for ``features``."""
    if isinstance(serving.max_row_bytes, int):
        return BodyCap(serving.max_rows, serving.max_row_bytes, "params.yaml")
    widest = widest_row(features)
    source = f"auto: the served schema's longest row is {widest} bytes; at least {AUTO_MIN_ROW_BYTES}"
    return BodyCap(serving.max_rows, max(AUTO_MIN_ROW_BYTES, widest), source)


def body_budget(serving: ServingParams, cap: BodyCap) -> BodyBudget:
    """The worker's budget of body bytes in flight; at least one body at the cap, else a request
    the cap admits could never be served."""
    limit = serving.max_body_bytes_in_flight
    if limit < cap.limit:
        raise ParamsError(
            f"serving.max_body_bytes_in_flight ({limit:,}) is below the body cap of {cap.limit:,} bytes "
            f"({cap.setting()}): a request at the cap would always be refused; set it to at least "
            f"{cap.limit} or lower the cap"
        )
    return BodyBudget(limit)


def load(environ: Mapping[str, str] = os.environ, root: Path | None = None) -> Settings:
    root = (root or Path.cwd()).resolve()
    config = read_config(environ=environ, root=root)
    serving = config.serving
    return Settings(
        serving=serving,
        root=root,
        model_dir=(root / (environ.get(MODEL_DIR_ENV) or config.model_dir)).resolve(),
        metrics_file=(root / config.metrics).resolve(),
        lineage_file=(root / serving.lineage).resolve(),
        prediction_log=(root / (environ.get(PREDICTION_LOG_ENV) or serving.log_path)).resolve(),
        workers=worker_count(serving.workers, cpu_limit(), available_cpus()),
        id_column=config.id_column,
        time_column=config.time_column,
        group_column=config.group_column,
        ignore_columns=config.ignore_columns,
        body_cap=(cap := body_cap(serving)),
        body_budget=body_budget(serving, cap),
    )
