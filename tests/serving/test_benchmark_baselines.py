"""The FastAPI baselines of benchmarks/serving.py run against this package's current API: a
benchmark that cannot start its baseline measures nothing."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import REPO
from tests.serving.conftest import PARAMS


def test_fastapi_baselines_start_and_answer(
    serving_root: Path, records: list[dict[str, Any]], monkeypatch
) -> None:
    monkeypatch.setenv("MLAPP_MODEL_DIR", str(serving_root / PARAMS.train.model_dir))
    monkeypatch.setenv("MLAPP_PARAMS", str(serving_root / "params.yaml"))
    module = runpy.run_path(str(REPO / "benchmarks" / "serving_fastapi.py"))
    for app in (module["app"], module["same_app"]):
        with TestClient(app) as http:
            assert http.post("/predict", json={"records": records[:3]}).status_code == 200
            assert http.post("/predict", content=json.dumps({"records": [{"age": "x"}]})).status_code in (
                400,
                422,
            )
