"""The real thing: `mlapp serving serve` (bentoml serve) on a free port, one server for this module."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from mlapp import model as model_io
from mlapp.sample_data import generate
from mlapp.serving import PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from mlapp.serving.paths import ROUTES
from mlapp.stages.train import train
from tests.conftest import own_probe_port, running_server, sh
from tests.serving.conftest import PARAMS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    argv = [sys.executable, "-m", "mlapp", "--params", "params.yaml", "serving", "serve", "--port", str(port)]
    argv += own_probe_port()
    env = {**os.environ, PREDICTION_LOG_ENV: str(log.parent / "predictions.jsonl")}  # not in serving_root
    with running_server(argv, port, serving_root, log, env=env) as url:
        yield url, log


def test_predictions_equal_in_process_predictions(server, model, frame, records, service_module) -> None:
    url, _ = server
    response = httpx.post(f"{url}/predict", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    served = np.array([p["probability"] for p in response.json()])
    np.testing.assert_allclose(served, model.predict_proba(frame), rtol=0, atol=1e-9)
    in_process = service_module.ModelService.inner().score(json.dumps({"records": records}).encode())
    assert response.json() == json.loads(in_process)
    assert response.headers["x-model-version"] == model.version


def test_concurrent_good_and_bad_clients_are_isolated(server, model, frame, records) -> None:
    url, _ = server
    bad = {"records": [{**records[0], "age": 17}]}
    chunks = [records[i : i + 10] for i in range(0, 300, 10)]
    bodies = [b for chunk in chunks for b in ({"records": chunk}, bad)]
    with httpx.Client(base_url=url, timeout=30) as http, ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda body: http.post("/predict", json=body), bodies))
    proba = model.predict_proba(frame)
    for i in range(len(chunks)):
        good, rejected = results[2 * i], results[2 * i + 1]
        assert good.status_code == 200, good.text
        np.testing.assert_allclose(
            [p["probability"] for p in good.json()], proba[10 * i : 10 * i + 10], atol=1e-9
        )
        assert rejected.status_code == 400
        assert rejected.json()["detail"][0]["loc"] == ["records", 0, "age"]


def test_metrics_and_quiet_logs(server, records) -> None:
    url, log = server
    assert httpx.post(f"{url}/predict", json={"records": records[:3]}, timeout=10).status_code == 200
    assert httpx.post(f"{url}/predict", json={"records": []}, timeout=10).status_code == 400
    body = httpx.get(f"{url}/metrics", timeout=10).text
    assert "bentoml_service_request_total{" in body and 'endpoint="/predict"' in body
    assert "mlapp_request_rows_bucket" in body
    # A client's bad input is an aggregated INFO line, not an ERROR with a traceback.
    deadline = time.monotonic() + 30
    while "refused requests" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    assert "Traceback" not in log.read_text()


def test_every_route_answers_a_method_it_lacks_in_json_with_the_allowed_ones(server) -> None:
    """Starlette answered "Method Not Allowed" in plain text (POST /metrics, POST /livez, POST
    /docs.json) while every other error is JSON with a message; /predict said only "use POST"."""
    url, _ = server
    refused: set[tuple[str, str]] = set()
    with httpx.Client(timeout=10) as client:
        for path in sorted(ROUTES):
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
                response = client.request(method, f"{url}{path}")
                if response.status_code != 405:  # allowed (an empty POST /predict is a 415)
                    continue
                refused.add((method, path))
                allow = sorted(m.strip() for m in response.headers["allow"].split(","))
                assert method not in allow and response.headers["content-type"] == "application/json"
                said = f"method {method} is not allowed on {path} (allowed: {', '.join(allow)})"
                assert response.json() == {"error": said}
    assert {("POST", "/metrics"), ("POST", "/livez"), ("GET", "/predict"), ("POST", "/docs.json")} <= refused
    assert {path for method, path in refused if method == "PUT"} == ROUTES  # no route takes PUT


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2"])
def test_a_request_line_of_another_http_version_is_505_not_served_as_1_1(server, version) -> None:
    """llhttp read HTTP/2.0 and HTTP/0.9 and the service answered them as HTTP/1.1 (versions.py)."""
    url, _ = server
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as sock:
        sock.sendall(b"GET /livez %s\r\nHost: x\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n" % version)
        received = b""
        while chunk := sock.recv(65536):  # closed by the server after its one answer
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"), received
    assert "send the request as HTTP/1.1" in json.loads(body)["error"]


def smoke(serving_root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[2]
    return sh(
        "mlapp", "--params", serving_root / "params.yaml", "serving", "smoke", *args, cwd=repo, check=False
    )


def test_smoke_passes_and_catches_the_wrong_model(server, serving_root, tmp_path) -> None:
    url, _ = server
    model_dir = serving_root / PARAMS.train.model_dir
    ok = smoke(serving_root, "--url", url, "--model-dir", model_dir)
    assert ok.returncode == 0, ok.stderr
    assert "smoke test passed" in ok.stdout

    wrong_version = smoke(
        serving_root, "--url", url, "--model-dir", model_dir, "--expect-version", "0123456789ab"
    )
    assert wrong_version.returncode == 1
    assert "expected model version 0123456789ab" in wrong_version.stderr

    quick = PARAMS.train.model_copy(
        update={"xgboost": PARAMS.train.xgboost.model_copy(update={"n_estimators": 5})}
    )
    model_io.save(
        *train(generate(1_000, 5), PARAMS.data.label, quick, examples=PARAMS.validate_.max_failure_examples),
        tmp_path / "other",
    )
    wrong_model = smoke(serving_root, "--url", url, "--model-dir", tmp_path / "other")
    assert wrong_model.returncode == 1
    assert "predictions differ from the local model" in wrong_model.stderr


def test_smoke_gives_up_on_a_dead_url(serving_root) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = smoke(
        serving_root, "--url", dead, "--model-dir", serving_root / PARAMS.train.model_dir, "--timeout", "1"
    )
    assert done.returncode == 1
    assert "not healthy after 1 s" in done.stderr


def test_schemathesis_finds_no_server_errors_or_schema_violations(server, tmp_path) -> None:
    url, _ = server
    done = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/docs.json", "--checks", "all",
         "--max-examples", "40", "--seed", "20261123", "--generation-database", "none",
         "--request-timeout", "20"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:]
    assert "No issues found" in done.stdout
