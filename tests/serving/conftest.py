"""Serving fixtures: a small model trained here, and the service module imported against it.

The service reads its configuration at import (BentoML's decorators need it then), so the
module is imported once per test session, from a throw-away folder laid out like the
project: params.yaml, models/, metrics/metrics.json. No git there: lineage says "unknown".
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
import uvicorn

from mlapp import model as model_io
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV, PREDICTION_LOG_ENV
from mlapp.serving.header_deadline import Deadline, HeaderDeadline
from mlapp.serving.local import free_port
from mlapp.stages.train import train
from tests.conftest import REPO, built_once, own_probe_port, read_only

PARAMS = load_params(REPO / "params.yaml")
METRICS = {"roc_auc": 0.75, "f1": 0.5, "threshold": 0.3}


def feature_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: plain JSON, missing values as null."""
    return json.loads(frame[list(FEATURES)].to_json(orient="records"))


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """params.yaml, a quick 30-tree model and metrics, as the service expects to find them.
    Read-only: servers run from it write their prediction logs elsewhere."""

    def build(root: Path) -> None:
        shutil.copy(REPO / "params.yaml", root / "params.yaml")
        xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 30})
        booster, spec = train(
            generate(2_000, 3),
            PARAMS.data.label,
            PARAMS.train.model_copy(update={"xgboost": xgb}),
            examples=PARAMS.validate_.max_failure_examples,
        )
        model_io.save(booster, spec, root / PARAMS.train.model_dir)
        (root / PARAMS.evaluate.metrics).parent.mkdir(parents=True)
        (root / PARAMS.evaluate.metrics).write_text(json.dumps(METRICS))

    yield from read_only(built_once(tmp_path_factory, "serving", build))


@pytest.fixture(scope="session")
def model(serving_root: Path) -> model_io.Model:
    return model_io.load(serving_root / PARAMS.train.model_dir)


@pytest.fixture(scope="session")
def service_module(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(serving_root)
        patch.setenv(PARAMS_ENV, str(serving_root / "params.yaml"))
        patch.setenv(MODEL_DIR_ENV, str(serving_root / PARAMS.train.model_dir))
        patch.setenv(PREDICTION_LOG_ENV, str(tmp_path_factory.mktemp("service") / "predictions.jsonl"))
        module = importlib.import_module("mlapp.serving.service")
    expected = serving_root / PARAMS.train.model_dir
    assert expected == module.SETTINGS.model_dir, "service imported elsewhere first"
    yield module


@pytest.fixture(scope="session")
def service_app(service_module: ModuleType) -> Any:
    """The service's ASGI app, one per test process: BentoML's request-metrics middleware registers
    its Prometheus series in the process's registry the first time an app is called, so a second
    app fails (``DuplicateTimeseries``). Each ``TestClient(service_app)`` runs its lifespan anew."""
    return service_module.ModelService.to_asgi()


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """Unseen rows, with the sample's missing values (~2-8% per nullable column)."""
    return generate(300, 99)


@pytest.fixture(scope="session")
def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return feature_records(frame)


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The cyclic garbage collector off for the test: what a reference cycle keeps stays."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def traffic() -> Iterator[socket.socket]:
    """A listening socket standing in for the traffic port (in-process, the app has none), whose
    listen queue the probe listener reads (probes.ListenQueue)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock


@contextlib.contextmanager
def protocol_server(app: Any, settings: Deadline) -> Iterator[int]:
    """The workers' HTTP protocol (``HeaderDeadline``) with ``settings``, serving ``app`` from uvicorn
    in a thread: its port. No model, no BentoML."""
    with uvicorn_thread(app, settings) as (port, _server, _thread):
        yield port


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app for ``protocol_server``: ``{"path": ..., "body": <bytes received>}`` for every HTTP
    request, read to its end as the service reads a body."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False) and message["type"] == "http.request"
    body = json.dumps({"path": scope["path"], "body": size}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


Refusals = list[tuple[int, set[tuple[str, str]]]]  # (status, labels) of each refusal counted


@pytest.fixture(scope="module")
def refusals() -> Refusals:
    return []


@pytest.fixture(scope="module")
def echo_port(refusals: Refusals) -> Iterator[int]:
    """``echo`` behind the workers' HTTP protocol, one server per test module; its refusals are
    appended to ``refusals``."""
    count = lambda status, labels: refusals.append((status, labels))  # noqa: E731
    with protocol_server(echo, Deadline(10, 65536, count, lambda app, _count: app, 10, 1 << 20)) as port:
        yield port


@contextlib.contextmanager
def uvicorn_thread(app: Any, settings: Deadline) -> Iterator[tuple[int, uvicorn.Server, threading.Thread]]:
    """``protocol_server``'s port, uvicorn server (``should_exit`` stops it as a signal would) and thread."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HeaderDeadline, "settings", settings, raising=False)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, http=HeaderDeadline, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        try:
            yield port, server, thread
        finally:
            server.should_exit = True
            thread.join(30)


START_DEADLINE_S = 60  # imports on a loaded machine; a crash-looping server never exits at all


def serve_until_exit(
    serving_root: Path,
    model_dir: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    probe_port: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """`mlapp serving serve` from ``serving_root`` that is expected to stop by itself (a start that
    fails): its exit code and output; a server still running after the deadline fails the test."""
    argv = [sys.executable, "-m", "mlapp", "--params", str(serving_root / "params.yaml"), "serving", "serve"]
    probes = ["--probe-port", str(probe_port)] if probe_port else own_probe_port()
    argv += ["--port", str(port or free_port()), *probes, "--model-dir", str(model_dir)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    environ = {**os.environ, **(env or {})}
    proc = subprocess.Popen(argv, cwd=serving_root, text=True, start_new_session=True, env=environ, **pipes)
    try:
        out, err = proc.communicate(timeout=START_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)  # workers (own sessions) could hold the pipes: never wait on
        pytest.fail(f"the server kept running without serving ({START_DEADLINE_S} s)")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
