"""The Grafana dashboard and the ServiceMonitor (infra/monitoring/) match what really runs.

- every dashboard query (panels and variables) names only metrics, and labels, that the
  real service emits on /metrics after good and bad requests, or that
  ``mlapp monitor metrics`` writes for a monitor report of that service's own prediction
  log (slow: a real ``mlapp serving serve``);
- the ServiceMonitor selects the Service of every overlay, on its port, in its namespace.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlapp import drift_metrics
from mlapp.delivery import kube
from mlapp.monitor import schema
from mlapp.monitor.batch import read_batch
from mlapp.monitor.run import Reference, compare
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.serving.local import free_port
from tests.conftest import REPO, own_probe_port, running_server
from tests.serving.conftest import PARAMS

DASHBOARD = REPO / "infra" / "monitoring" / "grafana-dashboard.json"
# Added by Prometheus to every scraped series (ServiceMonitor / kubernetes_sd), not by the service.
TARGET_LABELS = {"namespace", "pod", "instance", "job", "service", "container", "environment"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}  # fmt: skip
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
STRING = r'"(?:[^"\\]|\\.)*"'


# --- PromQL, just enough to name metrics and labels ----------------------------------------------


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) a PromQL expression refers to (Grafana variables allowed)."""
    expr = expr.replace("$__rate_interval", "5m")
    expr = re.sub(r"\$\{?\w+\}?", "x", expr)
    labels: set[str] = set()
    for block in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", re.sub(STRING, '""', block)))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    for clause in re.findall(GROUPING, expr):
        labels |= {label.strip() for label in clause.split(",") if label.strip()}
    expr = re.sub(GROUPING, " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(STRING, " ", expr)
    metrics = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        is_function = expr[match.end() :].lstrip().startswith("(")
        if not is_function and match.group() not in KEYWORDS:
            metrics.add(match.group())
    return metrics, labels


def test_promql_names_reads_what_the_dashboard_writes() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, endpoint) (rate(foo_bucket{namespace=~"$namespace", '
        'code!~"5..", x="a,b}"}[$__rate_interval]))) / on (pod) max(bar:ratio) * 1e3 > bool 0.5'
    )
    assert promql_names(expr) == (
        {"foo_bucket", "bar:ratio"},
        {"le", "endpoint", "namespace", "code", "x", "pod"},
    )
    assert promql_names("time() - max(mlapp_monitor_report_timestamp_seconds)") == (
        {"mlapp_monitor_report_timestamp_seconds"},
        set(),
    )


MATCHER = rf"(\w+)\s*(=~|!~|!=|=)\s*({STRING})"


def selects(expr: str, metric: str, labels: dict[str, str]) -> bool:
    """Whether ``expr``'s selector of ``metric`` matches a series of ``labels``; labels Prometheus
    adds (``TARGET_LABELS``: the dashboard's ``$namespace``) match any."""
    found = re.search(rf"\b{metric}\{{([^}}]*)\}}", expr)
    assert found, f"{metric} has no selector in {expr}"
    for name, op, quoted in re.findall(MATCHER, found.group(1)):
        if name in TARGET_LABELS:
            continue
        value, have = json.loads(quoted), labels.get(name, "")  # PromQL's "..." as JSON reads it
        matched = re.fullmatch(value, have) is not None if "~" in op else have == value
        if matched == op.startswith("!"):
            return False
    return True


def dashboard_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression of the dashboard: panel targets and query variables."""
    queries = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            definition = variable["query"]["query"]
            selector, label = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition).groups()  # type: ignore[union-attr]
            queries[f"variable {variable['name']}"] = f"count by ({label}) ({selector})"
    return queries


def test_selects_matches_labels_as_prometheus_does() -> None:
    expr = 'rate(m_bucket{namespace=~"$namespace", endpoint="/predict", code=~"2..", rule!~"a|b"}[5m])'
    assert selects(expr, "m_bucket", {"endpoint": "/predict", "code": "200", "rule": "c"})
    assert not selects(expr, "m_bucket", {"endpoint": "/predict", "code": "429", "rule": "c"})
    assert not selects(expr, "m_bucket", {"endpoint": "/predict", "code": "200", "rule": "a"})
    assert not selects(expr, "m_bucket", {"endpoint": "/metadata", "code": "200"})
    assert selects('m_bucket{code!="429"}', "m_bucket", {})  # an absent label is the empty value


# --- the dashboard's own structure ---------------------------------------------------------------


def test_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "model_version"} <= variables
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    # What the issue asks the dashboard to show: each has a panel.
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("latency", "throughput", "errors", "score distribution", "predictions by label",
                  "rejections", "model version", "psi by feature"):  # fmt: skip
        assert topic in titles, topic
    for name, expr in dashboard_queries(dashboard).items():
        assert promql_names(expr)[0], f"{name} names no metric: {expr}"


# --- the ServiceMonitor -------------------------------------------------------------------------

SERVICE_MONITOR_SPEC = {"endpoints", "namespaceSelector", "selector", "targetLabels", "podTargetLabels",
                        "jobLabel", "sampleLimit", "targetLimit", "attachMetadata"}  # fmt: skip
ENDPOINT_KEYS = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                 "honorTimestamps", "relabelings", "metricRelabelings", "params", "tlsConfig",
                 "authorization", "basicAuth", "followRedirects", "enableHttp2"}  # fmt: skip


def test_service_monitor_scrapes_the_service_of_every_overlay() -> None:
    objects = {o["kind"]: o for o in kube.render(REPO / "infra" / "monitoring")}
    assert sorted(objects) == ["ConfigMap", "ServiceMonitor"]
    config_map = objects["ConfigMap"]
    assert kube.schema_errors([config_map], PARAMS.delivery.kubernetes_version) == []
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["grafana-dashboard.json"]) == json.loads(DASHBOARD.read_text())

    monitor = objects["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert set(spec) <= SERVICE_MONITOR_SPEC
    (endpoint,) = spec["endpoints"]
    assert set(endpoint) <= ENDPOINT_KEYS
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True  # BentoML's own `endpoint` label must survive
    overlays = [REPO / PARAMS.delivery.infra_dir / "overlays" / env for env in PARAMS.delivery.environments]
    services = [o for overlay in overlays for o in kube.render(overlay) if o["kind"] == "Service"]
    scraped, served = (
        sorted(spec["namespaceSelector"]["matchNames"]),
        sorted(s["metadata"]["namespace"] for s in services),
    )
    assert scraped == served, (
        f"infra/monitoring/servicemonitor.yaml: namespaceSelector.matchNames must be {served}"
    )
    for service in services:
        labels = service["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert set(spec["targetLabels"]) <= set(labels)


# --- the real service: every query names a metric and labels that really exist ---------------------


@pytest.fixture(scope="module")
def logging_server(
    serving_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Path]]:
    """`mlapp serving serve` logging every prediction (log_sample_rate 1) to a fresh JSONL file."""
    work = tmp_path_factory.mktemp("dashboard")
    raw = yaml.safe_load((serving_root / "params.yaml").read_text())
    raw["serving"].update({"log_sample_rate": 1.0, "log_path": str(work / "predictions.jsonl")})
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    port, log = free_port(), work / "server.log"
    argv = [sys.executable, "-m", "mlapp", "--params", str(params), "serving", "serve", "--port", str(port)]
    argv += own_probe_port()
    with running_server(argv, port, serving_root, log) as url:
        yield url, params, work / "predictions.jsonl"


def exposed(text: str) -> dict[str, set[str]]:
    """Sample name -> its label names, from a Prometheus text exposition."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def scrape(url: str) -> str:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def sample_value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return sample.value
    return 0.0


def rows_written_and_scored(url: str) -> float:
    """The fewer of the rows the log writer wrote and the rows the score histogram counted."""
    text = scrape(url)
    written = sample_value(text, "mlapp_prediction_log_rows_total", outcome="written")
    return min(written, sample_value(text, "mlapp_prediction_score_count"))


@pytest.mark.slow
def test_every_dashboard_query_names_metrics_the_service_and_monitor_emit(
    logging_server, frame, records, model
) -> None:
    url, params_path, log_path = logging_server
    with httpx.Client(base_url=url, timeout=30) as http:
        for start in range(0, 300, 25):
            assert http.post("/predict", json={"records": records[start : start + 25]}).status_code == 200
        bad = [
            {"json": {"records": [{**records[0], "age": 17}]}},
            {"json": {"records": [{**records[0], "contract": "weekly", "coupon": 1}]}},
            {"json": {"records": []}},
            {"content": b"{oops", "headers": {"content-type": "application/json"}},
            {"content": b"a=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        ]
        for kwargs in bad:
            assert http.post("/predict", **kwargs).status_code in (400, 415)
        assert http.post("/metadata", json={}).status_code == 200

    # The log and the model's metrics are written in the background: wait (bounded) until the
    # writer reports all 300 rows and the score histogram has counted them.
    deadline = time.monotonic() + 60
    while rows_written_and_scored(url) < 300 and time.monotonic() < deadline:
        time.sleep(0.2)
    text = scrape(url)
    service = exposed(text)
    # Each rejected request counted once per (field, rule), where BentoML validated it.
    rejected = {
        (s.labels["field"], s.labels["rule"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "mlapp_rejections_total"
    }
    assert rejected == {
        ("age", "greater_than_equal"): 1,
        ("contract", "literal_error"): 1,
        ("<other>", "extra_forbidden"): 1,
        ("records", "too_short"): 1,
        ("body", "json_invalid"): 1,
        ("body", "unsupported_media_type"): 1,
    }

    # The monitor on the service's own log, with ground truth joined in as docs/monitoring.md says.
    params = load_params(params_path)
    truth = {
        json.dumps(r, sort_keys=True): int(y) for r, y in zip(records, frame[params.data.label], strict=True)
    }
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(lines) == 300
    log_path.write_text(
        "".join(
            json.dumps({**ln, params.data.label: truth[json.dumps(ln["features"], sort_keys=True)]}) + "\n"
            for ln in lines
        )
    )
    reference = Reference(
        features=generate(2_000, 11),
        scores=model.predict_proba(generate(1_000, 12)),
        metrics={name: 0.5 for name in params.monitor.decay_tolerance},  # every metric params watches
        model=model,
    )
    report = compare(read_batch(str(log_path), params), reference, params)
    assert report["labeled_rows"] == 300 and report["decay"]["status"] == "checked"
    assert report["served"]["max_score_difference"] == pytest.approx(0, abs=1e-6)  # no serving skew
    drift = exposed(drift_metrics.exposition(schema.parse(report), time.time()))

    emitted = {**service, **drift}
    problems = []
    for name, expr in dashboard_queries(json.loads(DASHBOARD.read_text())).items():
        metrics, labels = promql_names(expr)
        missing = sorted(metrics - set(emitted))
        if missing:
            problems.append(f"{name}: no such metric {missing}")
            continue
        known = set().union(*(emitted[m] for m in metrics)) | TARGET_LABELS
        if labels - known:
            problems.append(f"{name}: labels {sorted(labels - known)} not on {sorted(metrics)}")
    assert problems == [], "\n".join(problems)
    # The score histogram saw every row, bucket by bucket (cumulative), like the served scores.
    scores = np.array([ln["probability"] for ln in lines])
    buckets = {
        s.labels["le"]: s.value
        for f in text_string_to_metric_families(scrape(url))
        for s in f.samples
        if s.name == "mlapp_prediction_score_bucket"
    }
    assert buckets["0.5"] == (scores <= 0.5).sum() and buckets["+Inf"] == 300
