"""Two `mlapp serving serve` of one user on one machine (two checkouts, two ports) keep their
own /metrics: BentoML's default Prometheus folder is per user, and it is emptied when a server
starts."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlapp.serving.local import free_port
from tests.conftest import own_probe_port, running_server

pytestmark = pytest.mark.slow

DEADLINE_S = 30  # the model's series are written by a timer every 0.25 s


def predicted_rows(url: str) -> float:
    body = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^mlapp_predictions_total\{[^}]*\} (\S+)$", body, re.M))


def wait_for_rows(url: str, rows: float) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while (seen := predicted_rows(url)) != rows:
        assert time.monotonic() < deadline, f"{url}/metrics counts {seen} predicted rows, expected {rows}"
        time.sleep(0.2)


def test_two_servers_sharing_a_bentoml_home_keep_their_own_metrics(
    serving_root: Path, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    params = yaml.safe_load((serving_root / "params.yaml").read_text())
    params["serving"].update(workers=1, log_sample_rate=0.0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "shared-home")}  # as ~/bentoml for both
    env["MLAPP_MODEL_DIR"] = str(serving_root / "models")

    def serve(name: str) -> Any:
        port = free_port()
        argv = [sys.executable, "-m", "mlapp", "--params", str(tmp_path / "params.yaml")]
        argv += ["serving", "serve", "--port", str(port), *own_probe_port()]
        return running_server(argv, port, serving_root, tmp_path / f"{name}.log", env=env)

    def predict(url: str, rows: int) -> None:
        assert httpx.post(f"{url}/predict", json={"records": records[:rows]}, timeout=30).status_code == 200
        wait_for_rows(url, rows)

    with serve("first") as first:
        predict(first, 7)
        with serve("second") as second:
            predict(second, 2)
            wait_for_rows(first, 7)  # neither wiped by the second's start nor mixed with its rows
