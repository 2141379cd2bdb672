"""``params.yaml`` sections for what follows a trained model: serving, PR report and gate, image, delivery.

Import them from ``mlapp.params`` like every other section (it re-exports them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from mlapp.params_base import CI_JOB, HOUR, MetricName, Section, Seed, Tolerance


def _env_name(name: str) -> str:
    """A folder of the deploy branch, a GitHub environment, the end of Kubernetes names (the
    ``<app>-<env>`` namespace is a DNS-1123 label: no "-" last, 63 characters in all)."""
    if not re.fullmatch(r"[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?", name):
        rule = "1-31 lower-case letters, digits and '-', starting with a letter and not ending with '-'"
        raise ValueError(f"environment name {name!r}: {rule} (it names a Kubernetes namespace)")
    return name


EnvName = Annotated[str, AfterValidator(_env_name)]


class ArgoCDParams(Section):
    namespace: str
    version: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    install_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    repo_url: str | None  # null: bootstrap derives it from the git remote


class DeliveryParams(Section):
    mode: Literal["gitops", "push"]
    registry: str
    infra_dir: Path
    environments: list[EnvName] = Field(min_length=1)
    state_branch: str
    remote: str
    app: str
    rollout_timeout_s: int = Field(gt=0, le=CI_JOB)  # run by a CI job, as sync is
    sync_timeout_s: int = Field(gt=0, le=CI_JOB)
    poll_s: float = Field(gt=0, le=HOUR)
    kubernetes_version: str = Field(pattern=r"^\d+\.\d+$")
    argocd: ArgoCDParams

    @model_validator(mode="after")
    def _unique_environments(self) -> DeliveryParams:
        if len(set(self.environments)) != len(self.environments):
            raise ValueError(f"delivery.environments repeats a name: {self.environments}")
        return self

    @model_validator(mode="after")
    def _polls_within_the_wait(self) -> DeliveryParams:
        # `mlapp delivery wait` asks every poll_s until sync_timeout_s: a longer poll asks once.
        if (poll := self.poll_s) > (sync := self.sync_timeout_s):
            raise ValueError(
                f"delivery.poll_s {poll:g} is more than delivery.sync_timeout_s {sync}: "
                f"the wait would ask the service once; set poll_s to at most {sync}"
            )
        return self


class StandinBaseParams(Section):
    tag: str  # the local stand-in's image tag
    suite: str  # Debian release whose python3 matches `base`'s Python
    mirror: str  # Debian mirror debootstrap downloads from


class ImageParams(Section):
    name: str  # local image name, tagged with the bento version
    # Registry builds start from exactly this: an image reference pinned by its digest.
    base: str = Field(pattern=r"^[^@\s]+@sha256:[0-9a-f]{64}$")
    standin: StandinBaseParams  # used only where `base` is not available locally and cannot be pulled
    context: Path  # the Docker build context: the bento, the Dockerfile, hashed requirements
    max_size_mb: int = Field(gt=0)
    ready_timeout_s: int = Field(gt=0, le=HOUR)


class ReportParams(Section):
    out_dir: Path  # report.md, report.json and the PNG plots
    default_base: str  # without --base: the merge base of HEAD and this ref
    bootstrap_resamples: int = Field(ge=100)
    bootstrap_seed: Seed
    confidence: float = Field(gt=0.5, lt=1)
    # A gate note when the primary metric's CI of the change is wider than this share of the base's
    # value: with rare positives an f1 at each model's threshold moves with a few rows (mlapp.report.compare).
    wide_ci_share: float = Field(gt=0)
    chart_points: int = Field(ge=3, le=101)  # points per curve in the Mermaid charts
    drift_top: int = Field(ge=1)  # features listed in the drift table
    latency_repeats: int = Field(ge=1)  # timed batch predictions per model (median reported)
    max_chars: int = Field(ge=1000, le=65536)  # GitHub rejects comments over 65,536 characters


class GateParams(Section):
    primary_metric: MetricName  # must be a metric of the task (checked with the whole file)
    min_primary: float  # the floor (a ceiling for a lower-is-better metric such as rmse)
    max_regression: Tolerance  # a number in the metric's units, or "2%" of the base model's value
    require_significant: bool

    @field_validator("min_primary")
    @classmethod
    def _in_the_metrics_units(cls, value: float, info: ValidationInfo) -> float:
        """Kept when the metric was switched (roc_auc to rmse, or back), the old bound is in the
        wrong units: where the new metric can never take it, every PR would fail (or pass)."""
        from mlapp.metrics import gate_bound_problem  # metrics imports numpy: only when needed

        metric = info.data.get("primary_metric")  # absent when itself invalid (reported on its own)
        if metric is not None and (problem := gate_bound_problem(metric, value)):
            raise ValueError(problem)
        return value

    @field_validator("max_regression")
    @classmethod
    def _can_fail(cls, value: float | str, info: ValidationInfo) -> float | str:
        """A tolerance the metric can never exceed (1 for an AUC) turns the rule off silently."""
        from mlapp.tolerances import tolerance_problem

        metric = info.data.get("primary_metric")
        effect, reference = "fail a pull request", "the base model's value"
        if metric is not None and (problem := tolerance_problem(metric, value, effect, reference)):
            raise ValueError(problem)
        return value


class ServingParams(Section):
    max_rows: int = Field(ge=1)  # largest request accepted (rows); larger is a 400
    max_error_details: int = Field(ge=1)  # issues a 400 lists, of the first invalid record (validation stops)
    # body cap = max_rows * max_row_bytes; larger is a 413, unread. auto: the served schema's longest row
    max_row_bytes: int | Literal["auto"]
    header_timeout_s: float = Field(gt=0, le=HOUR)  # each request's headers must arrive within it; else 408
    max_header_bytes: int = Field(ge=1024)  # request line + headers of one request; more is a 431
    body_timeout_s: float = Field(gt=0, le=HOUR)  # the whole body must arrive within it; else 408
    chunk_rows: int = Field(ge=1)  # a request with more rows is validated + predicted in steps of this
    loop_slice_ms: float = Field(gt=0)  # prediction steps per pass of the event loop, then its sockets
    probe_port: int = Field(ge=1, le=65535)  # kubelet probes: a thread of each worker answers here
    probe_live_s: float = Field(gt=0, le=HOUR)  # probe port /livez: 503 once the event loop stood this long
    probe_ready_s: float = Field(gt=0, le=HOUR)  # probe port /readyz: 503 once the event loop lags this much
    probe_ready_backlog: int = Field(ge=0)  # ...and once more connections wait on the traffic port
    probe_ready_backlog_s: float = Field(ge=0, le=HOUR)  # ...for this long, too slow to drain (0: one look)
    probe_max_connections: int = Field(ge=1)  # probe port: awaiting their request; a new one drops the oldest
    timeout_s: float = Field(gt=0, le=HOUR)  # whole request, BentoML traffic.timeout
    max_concurrency: int = Field(ge=1)  # requests in flight per pod (BentoML divides it among the workers)
    max_body_bytes_in_flight: int = Field(ge=1)  # per worker, bodies of requests in flight; more: 429
    workers: int | Literal["auto"]  # server processes; auto: the CPU limit (cgroup quota), rounded up
    access_log: bool  # BentoML's INFO line per request
    predict_threads: int = Field(ge=1)  # XGBoost threads per predict call
    port: int = Field(ge=1, le=65535)  # `mlapp serving serve` default; `make serve PORT=...` overrides
    lineage: Path  # JSON written by `mlapp serving bento` and baked into the bento
    bento_name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    log_path: Path  # sampled prediction log (JSONL, `mlapp monitor run --source`); $MLAPP_PREDICTION_LOG wins
    log_sample_rate: float = Field(ge=0, le=1)  # share of predicted rows logged; 0 turns the log off
    log_buffer_rows: int = Field(ge=1)  # rows waiting for the log writer; beyond that, dropped (counted)
    log_max_bytes: int = Field(ge=4096)  # the log moves to <log>.1 at this size: at most ~twice on disk
    score_chunk_rows: int = Field(ge=1)  # `mlapp score`: rows read, validated and predicted at a time

    @field_validator("workers", "max_row_bytes")
    @classmethod
    def _number_or_auto(cls, value: int | str, info: ValidationInfo) -> int | str:
        least = {"workers": 1, "max_row_bytes": 64}[str(info.field_name)]
        if isinstance(value, int) and value < least:
            raise ValueError(f"{info.field_name} must be >= {least} or `auto`")
        return value
