"""The service in-process: the class itself, then HTTP through its ASGI app (no server)."""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from mlapp.serving.admission import Refused
from mlapp.serving.metadata import read_metrics
from tests.serving.conftest import METRICS


@pytest.fixture(scope="module")
def service(service_module):
    return service_module.ModelService.inner()  # the plain class: __init__ loads the model


@pytest.fixture(scope="module")
def http(service_app):
    with TestClient(service_app) as client:  # lifespan: loads the model
        yield client


def assert_matches(predictions: list[dict[str, Any]], model, frame) -> None:
    proba = model.predict_proba(frame)
    assert [p["probability"] for p in predictions] == pytest.approx(proba.tolist(), abs=1e-9)
    assert [p["label"] for p in predictions] == (proba >= model.spec.threshold).astype(int).tolist()


# --- unit: the service class -------------------------------------------------------------


def score(service, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(service.score(json.dumps({"records": records}).encode()))


def test_predict_equals_the_model_in_order(service, model, frame, records) -> None:
    assert_matches(score(service, records), model, frame)


def test_a_large_request_is_scored_in_chunks_with_the_same_answer(service, records) -> None:
    body = json.dumps({"records": records}).encode()
    assert len(records) > 2 * service.chunk_rows
    steps, pauses = service.steps(body), 0
    with pytest.raises(StopIteration) as done:
        while True:
            next(steps)
            pauses += 1  # where score_yielding lets the event loop run other requests
    assert pauses == math.ceil(len(records) / service.chunk_rows) - 1
    assert done.value.value == service.score(body)


def test_a_bad_row_in_the_last_chunk_is_a_400_naming_it(service, records) -> None:
    bad = [*records[:-1], {**records[-1], "age": 5}]
    with pytest.raises(Refused) as refused:
        service.score(json.dumps({"records": bad}).encode())
    assert refused.value.status == 400
    assert ("age", "greater_than_equal") in refused.value.labels


def test_labels_use_the_threshold_in_float64(service, model) -> None:
    # A probability just under the threshold in float64 may round up to it in float32.
    assert service.threshold == model.spec.threshold
    proba = np.array([np.nextafter(model.spec.threshold, 0)], dtype=np.float64)
    assert (proba >= service.threshold).astype(int).tolist() == [0]


def test_metadata_names_model_lineage_metrics_and_limits(service, model, service_module) -> None:
    meta = service.metadata()
    assert meta.model_version == model.version == meta.lineage.model_version
    assert meta.threshold == model.spec.threshold
    assert meta.features == model.spec.features
    assert meta.metrics == METRICS
    assert meta.limits.max_rows == service_module.SERVING.max_rows
    cap = service_module.SETTINGS.body_cap
    assert (meta.limits.max_body_bytes, meta.limits.max_row_bytes) == (cap.limit, cap.row_bytes)
    assert meta.limits.body_cap.startswith(f"serving.max_rows {cap.max_rows} x serving.max_row_bytes ")
    assert meta.limits.max_body_bytes_in_flight == service_module.SERVING.max_body_bytes_in_flight
    # Served from a folder with no git and no bento lineage: "unknown", never a guess.
    assert (meta.lineage.git_commit, meta.lineage.data_hash, meta.lineage.source) == (
        "unknown",
        "unknown",
        "repo",
    )


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_max_concurrency_is_per_pod_bentoml_divides_it_among_the_workers(service_module, workers) -> None:
    """Why 2 workers admitted 256 bodies of a burst, not 512: BentoML (1.4, new-style services) gives
    each worker ceil(max_concurrency / workers). What params.yaml and docs/serving.md say."""
    from _bentoml_impl.server.app import ServiceAppFactory

    service = service_module.ModelService
    shipped = service.config["workers"]
    try:
        service.config["workers"] = workers
        service.inject_config()
        per_worker = ServiceAppFactory(service, is_main=True).max_concurrency
    finally:
        service.config["workers"] = shipped
        service.inject_config()
    assert per_worker == math.ceil(service_module.SERVING.max_concurrency / workers)


def test_metadata_metrics_keep_per_class_values_by_their_flat_names(tmp_path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"f1_macro": 0.9, "per_class": {"a": {"recall": 0.5}}}')
    assert read_metrics(path) == {"f1_macro": 0.9, "per_class.a.recall": 0.5}


# --- HTTP through the ASGI app --------------------------------------------------------------


def test_predict_over_http_with_model_headers(http, model, frame, records) -> None:
    response = http.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    assert_matches(response.json(), model, frame)
    assert response.headers["x-model-version"] == model.version
    assert response.headers["x-git-commit"] == "unknown"
    assert response.headers["x-data-hash"] == "unknown"


def test_metadata_over_http(http, model, records) -> None:
    response = http.post("/metadata")
    assert response.status_code == 200
    assert response.json()["model_version"] == model.version
    assert response.headers["x-model-version"] == model.version
    # Classes as /predict answers them (0/1 stays 0/1): a client can look a label up in them.
    labels = {p["label"] for p in http.post("/predict", json={"records": records}).json()}
    assert response.json()["classes"] == [0, 1] and labels <= {0, 1}


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
def test_health_endpoints(http, path) -> None:
    assert http.get(path).status_code == 200


def good(records: list[dict[str, Any]], **change: Any) -> dict[str, Any]:
    return {**records[0], **change}


BAD_INPUTS = {
    # name: (body builder, field in `loc`, rule in `type`)
    "wrong type": (lambda r: {"records": [good(r, age="30")]}, "age", "int_type"),
    "float for an integer": (lambda r: {"records": [good(r, age=30.5)]}, "age", "int_type"),
    "bool for a number": (lambda r: {"records": [good(r, discount_pct=True)]}, "discount_pct", "float_type"),
    "missing field": (
        lambda r: {"records": [{k: v for k, v in r[0].items() if k != "region"}]},
        "region",
        "missing",
    ),
    "extra field": (lambda r: {"records": [good(r, customer_id="C1")]}, "customer_id", "extra_forbidden"),
    "above range": (lambda r: {"records": [good(r, age=200)]}, "age", "less_than_equal"),
    "below range": (
        lambda r: {"records": [good(r, monthly_charges=-1.0)]},
        "monthly_charges",
        "greater_than_equal",
    ),
    "unknown category": (lambda r: {"records": [good(r, contract="lifetime")]}, "contract", "literal_error"),
    "null where not nullable": (lambda r: {"records": [good(r, region=None)]}, "region", "literal_error"),
    "empty list": (lambda r: {"records": []}, "records", "too_short"),
    "oversized batch": (lambda r: {"records": r[:1] * 1001}, "records", "too_long"),
    "records not a list": (lambda r: {"records": r[0]}, "records", "list_type"),
    "no records key": (lambda r: {"rows": r}, "records", "missing"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_400_naming_field_and_rule(http, records, service_module, case) -> None:
    build, field, rule = BAD_INPUTS[case]
    body = build(records)
    if case == "oversized batch":
        assert len(body["records"]) == service_module.SERVING.max_rows + 1
    response = http.post("/predict", json=body)
    assert response.status_code == 400, response.text
    errors = response.json()["detail"]
    assert any(field in e["loc"] and e["type"] == rule for e in errors), errors
    in_record = r"( in records\[0\], the first invalid record \(the ones after it are not checked\))?"
    assert re.fullmatch(rf"\d+ validation errors? for Input{in_record}", response.json()["error"])
    if case == "extra field":  # the served model's own id column (data.id_column) is named as such
        assert "'customer_id' is the id column (data.id_column)" in errors[0]["msg"], errors


def test_a_body_of_bad_rows_gets_a_small_answer(http, records, service_module) -> None:
    """The first invalid record's issues, a few listed: 1,000 bad rows (1.8 MB of detail before
    the list was cut) must not buy a megabyte answer, nor 17,000 errors built to list 20."""
    rows, shown = service_module.SERVING.max_rows, service_module.SERVING.max_error_details
    bad = {name: "?" * 30 for name in records[0]}  # every field of every row after the first is wrong
    first_bad = bad | {f"extra_{i}": 0 for i in range(shown)}  # more issues than a 400 lists
    response = http.post("/predict", json={"records": [records[0], first_bad] + [bad] * (rows - 2)})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == (
        f"{len(first_bad)} validation errors for Input in records[1], the first invalid record "
        f"(the ones after it are not checked) (the first {shown} listed)"
    )
    assert [e["loc"][1] for e in answer["detail"]] == [1] * shown
    assert len(response.content) < 10_000


@pytest.mark.parametrize(
    ("raw", "rule"),
    [("0.5", None), ("NaN", "finite_number"), ("Infinity", "finite_number"), ("-Infinity", "finite_number")],
)
def test_nan_and_infinity_are_rejected(http, records, raw, rule) -> None:
    text = json.dumps({"records": [good(records, discount_pct=0.5)]}).replace(
        '"discount_pct": 0.5', f'"discount_pct": {raw}'
    )
    assert f'"discount_pct": {raw}' in text  # JSON has no NaN; Python's parsers accept these tokens
    response = http.post("/predict", content=text, headers={"content-type": "application/json"})
    if rule is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert [(e["loc"][-1], e["type"]) for e in response.json()["detail"]] == [("discount_pct", rule)]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"records=1", "application/x-www-form-urlencoded", 415),
        (b"--x\r\nnot multipart", "multipart/form-data; boundary=x", 415),
        (b"\x80\x04\x95", "application/vnd.bentoml+pickle", 415),
    ],
)
def test_malformed_bodies_are_4xx_never_5xx(http, content, content_type, status) -> None:
    response = http.post("/predict", content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_bad_requests_never_fail_good_ones_batched_with_them(http, model, frame, records) -> None:
    """Concurrent good and bad requests: batching only ever sees validated records."""
    bad = {"records": [good(records, age=-5)]}
    chunks = [records[i : i + 7] for i in range(0, 70, 7)]

    def call(body: dict[str, Any]) -> tuple[int, Any]:
        response = http.post("/predict", json=body)
        return response.status_code, response.json()

    bodies = [b for chunk in chunks for b in ({"records": chunk}, bad)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, bodies))
    for i in range(len(chunks)):
        status, predictions = results[2 * i]
        assert status == 200, predictions
        assert_matches(predictions, model, frame.iloc[7 * i : 7 * i + 7])
        assert results[2 * i + 1][0] == 400


def test_docs_json_documents_the_real_400_and_a_required_body(http) -> None:
    spec = http.get("/docs.json").json()
    detail = spec["components"]["schemas"]["Error"]["properties"]["detail"]
    assert detail["type"] == "array" and detail["items"]["required"] == ["type", "loc", "msg"]
    documented = set(spec["paths"]["/predict"]["post"]["responses"])
    assert {"200", "400", "401", "408", "413", "415"} <= documented
    assert spec["paths"]["/predict"]["post"]["requestBody"]["required"] is True
    assert spec["components"]["schemas"]["Input"]["properties"]["records"]["maxItems"] == 1000
    assert spec["components"]["schemas"]["Input"]["additionalProperties"] is False


def test_docs_json_is_built_once_per_worker_not_per_request(http, service_module, monkeypatch) -> None:
    """Building the document cost ~2.3 ms a request, the dearest open route: 300 connections
    pipelining it, unread, kept a 1-row prediction waiting 44 s (12 s behind /livez)."""
    built = []
    spec = service_module.openapi.spec
    monkeypatch.setattr(service_module.openapi, "spec", lambda *a: built.append(1) or spec(*a))
    answers = [http.get("/docs.json") for _ in range(3)]
    assert len(built) <= 1  # none if an earlier test built it
    assert all(a.status_code == 200 and a.content == answers[0].content for a in answers)
    assert answers[0].json()["paths"]["/predict"]["post"]["requestBody"]["required"] is True
