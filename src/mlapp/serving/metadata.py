"""What the service says about its model: the ``/metadata`` document (its task, classes,
lineage, test metrics and request limits) and the headers that name the model on every response.

Built once per worker, when the service loads the model (``service.py``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlapp.files import read_json
from mlapp.metrics import flat
from mlapp.model import Model
from mlapp.serving import lineage
from mlapp.serving.settings import Settings

HEADER_NAMES = {
    "model_version": "x-model-version",
    "git_commit": "x-git-commit",
    "data_hash": "x-data-hash",
}


class Limits(BaseModel):
    max_rows: int
    max_body_bytes: int  # a longer body is a 413
    max_row_bytes: int  # serving.max_row_bytes, auto resolved for the served schema
    body_cap: str  # the settings that make max_body_bytes, and where max_row_bytes comes from
    max_body_bytes_in_flight: int  # per worker: a body that would pass it is a 429 (Retry-After)


class Metadata(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    task: str  # binary | multiclass | regression: the shape of /predict's answer
    classes: list[str | int]  # in the model's order, as /predict shows them (empty for regression)
    threshold: float | None  # binary only
    features: list[str]
    categories: dict[str, list[str]]
    lineage: lineage.Lineage
    metrics: dict[str, float]  # metrics/metrics.json of the evaluated model ({} if absent)
    limits: Limits


def read_metrics(path: Path) -> dict[str, float]:
    """metrics.json, nested values by flat name (multiclass ``per_class.<class>.recall``)."""
    return flat(read_json(path)) if path.is_file() else {}


def describe(model: Model, facts: lineage.Lineage, settings: Settings) -> Metadata:
    """The ``/metadata`` document of ``model`` as ``settings`` serve it."""
    return Metadata(
        model_version=model.version,
        task=model.task,
        classes=model.spec.class_values(),
        threshold=model.spec.threshold,
        features=model.spec.features,
        categories=model.spec.categories,
        lineage=facts,
        metrics=read_metrics(settings.metrics_file),
        limits=Limits(
            max_rows=settings.serving.max_rows,
            max_body_bytes=settings.body_cap.limit,
            max_row_bytes=settings.body_cap.row_bytes,
            body_cap=settings.body_cap.setting(),
            max_body_bytes_in_flight=settings.body_budget.limit,
        ),
    )


def headers(facts: lineage.Lineage) -> list[tuple[bytes, bytes]]:
    """The response headers naming the model (version, git commit, data hash), as ASGI sends them."""
    values = facts.model_dump()
    return [(name.encode(), str(values[key]).encode()) for key, name in HEADER_NAMES.items()]
