"""The service's model version over HTTP (the ASGI app) for a model whose threshold alone changed.

Its own module: the app runs one lifespan (one model) at a time, and test_service.py keeps
one open for its module.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from mlapp import model as model_io
from tests.conftest import with_threshold
from tests.serving.conftest import PARAMS


def test_a_threshold_only_change_is_served_as_another_model_version(
    service_module: ModuleType,
    service_app: Any,
    serving_root: Path,
    model: model_io.Model,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The booster is unchanged, the answers are not: a pod of the old release must not report the
    version of the new one (`mlapp delivery wait` would take it for the release)."""
    threshold = round(model.spec.cutoff + 0.1, 2)
    folder = with_threshold(serving_root / PARAMS.train.model_dir, tmp_path / "models", threshold)
    monkeypatch.setattr(
        service_module, "SETTINGS", dataclasses.replace(service_module.SETTINGS, model_dir=folder)
    )
    with TestClient(service_app) as http:  # its lifespan loads the model from SETTINGS.model_dir
        response = http.post("/metadata")
    assert response.status_code == 200, response.text
    assert response.json()["threshold"] == threshold  # the new spec is what is served
    assert response.json()["model_version"] == model_io.load(folder).version
    assert response.json()["model_version"] != model.version
    assert response.headers["x-model-version"] == response.json()["model_version"]
