"""Serving skew through the real thing, per task: `mlapp serving serve` of a small multiclass and a
small regression project, logging every row it answers, sent requests over HTTP; then
`mlapp monitor run` on the log the server wrote reads no skew (the served scores are the model's)
and a report of the rows sent. The log writer alone is checked in test_task_skew.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from mlapp import model as model_io
from mlapp.sample_data import generate
from mlapp.serving import PREDICTION_LOG_ENV
from mlapp.serving.local import free_ports
from mlapp.stages.train import train
from tests.conftest import REPO, running_server
from tests.pipeline.task_tables import table
from tests.pipeline.test_tasks import EXAMPLES, FAST
from tests.serving.conftest import feature_records

pytestmark = pytest.mark.slow

PRIMARY = {"multiclass": "f1_macro", "regression": "rmse"}
SENT, REQUEST_ROWS = 240, 60  # four requests


def _project(root: Path, task: str, probe_port: int) -> None:
    """params.yaml switched to ``task`` (as ``task_tables.params_for`` switches it), logging every
    row, one worker; a model trained on a small table of the task, and its split tables."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["task"] = task
    raw["gate"]["primary_metric"] = raw["tune"]["metric"] = PRIMARY[task]
    raw["monitor"]["decay_tolerance"] = {PRIMARY[task]: 0.05}
    raw["serving"].update(log_sample_rate=1.0, workers=1, probe_port=probe_port)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    frame = table(task, 1_200, seed=5)
    for name, part in (("train", frame.iloc[:900]), ("test", frame.iloc[900:])):
        (root / raw["split"][name]).parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(root / raw["split"][name])
    booster, spec = train(frame.iloc[:900], raw["data"]["label"], FAST, task, examples=EXAMPLES)
    model_io.save(booster, spec, root / raw["train"]["model_dir"])


def _served_log(root: Path, task: str, tmp: Path) -> tuple[Path, list[Any]]:
    """The log the server wrote for the requests sent, and its answers (stopped first: every
    queued row written)."""
    port, probe_port = free_ports(2)
    _project(root, task, probe_port)
    log = tmp / "predictions.jsonl"
    argv = [sys.executable, "-m", "mlapp", "--params", "params.yaml", "serving", "serve", "--port", str(port)]
    records = feature_records(generate(SENT, 77))
    answers: list[Any] = []
    env = {**os.environ, PREDICTION_LOG_ENV: str(log)}
    with running_server(argv, port, root, tmp / "server.log", env=env) as url:
        for start in range(0, SENT, REQUEST_ROWS):
            body = {"records": records[start : start + REQUEST_ROWS]}
            response = httpx.post(f"{url}/predict", json=body, timeout=30)
            assert response.status_code == 200, response.text
            answers += response.json()
    return log, answers


@pytest.mark.parametrize(("task", "field"), [("multiclass", "probabilities"), ("regression", "prediction")])
def test_a_real_servers_log_shows_no_skew(task: str, field: str, tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    log, answers = _served_log(root, task, tmp_path)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line[field] for line in lines] == [answer[field] for answer in answers]  # in order: one worker
    report_path = tmp_path / "monitor.json"
    monitor = [sys.executable, "-m", "mlapp", "--params", "params.yaml", "monitor", "run", "--exit-zero"]
    monitor += ["--source", str(log), "--json", str(report_path), "--markdown", str(tmp_path / "monitor.md")]
    done = subprocess.run(monitor, cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    model = model_io.load(root / "models")
    served = report["served"]
    assert served["compared"] == field
    assert served["model_versions"] == {model.version: SENT}
    assert served["max_score_difference"] == pytest.approx(0, abs=1e-6)
    assert report["rows"] == SENT and report["status"] != "invalid"
    scores = model.scores(generate(SENT, 77))
    logged = [list(line[field].values()) if task == "multiclass" else line[field] for line in lines]
    np.testing.assert_allclose(np.array(logged), scores, atol=1e-6)
