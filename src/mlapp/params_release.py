"""``params.yaml`` sections for what follows a trained model: PR report and gate, image, delivery.

Import them from ``mlapp.params`` like every other section (it re-exports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlapp.params_base import MetricName, Section

# A folder of the deploy branch, a GitHub environment, part of Kubernetes names.
EnvName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]


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
    rollout_timeout_s: int = Field(gt=0)
    sync_timeout_s: int = Field(gt=0)
    poll_s: float = Field(gt=0)
    kubernetes_version: str = Field(pattern=r"^\d+\.\d+$")
    argocd: ArgoCDParams

    @model_validator(mode="after")
    def _unique_environments(self) -> DeliveryParams:
        if len(set(self.environments)) != len(self.environments):
            raise ValueError(f"delivery.environments repeats a name: {self.environments}")
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
    ready_timeout_s: int = Field(gt=0)


class ReportParams(Section):
    out_dir: Path  # report.md, report.json and the PNG plots
    default_base: str  # without --base: the merge base of HEAD and this ref
    bootstrap_resamples: int = Field(ge=100)
    bootstrap_seed: int
    confidence: float = Field(gt=0.5, lt=1)
    chart_points: int = Field(ge=3, le=101)  # points per curve in the Mermaid charts
    drift_top: int = Field(ge=1)  # features listed in the drift table
    latency_repeats: int = Field(ge=1)  # timed batch predictions per model (median reported)
    max_chars: int = Field(ge=1000, le=65536)  # GitHub rejects comments over 65,536 characters


class GateParams(Section):
    primary_metric: MetricName  # must be a metric of the task (checked with the whole file)
    min_primary: float  # the floor (a ceiling for a lower-is-better metric such as rmse)
    max_regression: float = Field(ge=0)
    require_significant: bool
