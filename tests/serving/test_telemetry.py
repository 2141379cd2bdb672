"""Service metrics and the sampled prediction log: units, then the service in-process.

The end-to-end check (real server, /metrics, the monitor reading the log, the dashboard's
queries) is tests/serving/test_dashboard.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlapp.monitor.batch import read_batch
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving import predlog, predlog_file, telemetry
from tests.serving.conftest import PARAMS, feature_records

# --- score histogram: one inc per bucket equals one observe per value ---------------------------


def test_bulk_histogram_writes_what_observe_writes() -> None:
    rng = np.random.default_rng(7)
    # Exact bucket edges, both ends of the range and random scores.
    values = np.concatenate([[0.0, 0.05, 0.1, 0.95, 1.0, 0.30000000000000004], rng.random(500)])
    registry = {name: CollectorRegistry() for name in ("bulk", "each")}
    bulk, each = (
        Histogram("score", "s", ["v"], buckets=telemetry.SCORE_BUCKETS, registry=registry[name]).labels("x")
        for name in ("bulk", "each")
    )
    adder = telemetry.BulkHistogram(bulk)
    assert adder.bulk, "prometheus_client internals changed: BulkHistogram fell back to observe()"
    adder.observe(values[:3])  # the short-batch loop
    adder.observe(values[3:200])  # numpy
    adder.observe(values[200:])
    for value in values:
        each.observe(float(value))
    exposed = {k: samples(r) for k, r in registry.items()}
    total = ("score_sum", (("v", "x"),))
    assert exposed["bulk"].pop(total) == pytest.approx(exposed["each"].pop(total), rel=1e-12)
    assert exposed["bulk"] == exposed["each"]  # every bucket and the count, exactly


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_bulk_histogram_falls_back_to_observe() -> None:
    class Plain:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, value: float) -> None:
            self.seen.append(value)

    plain = Plain()
    adder = telemetry.BulkHistogram(plain)
    assert not adder.bulk
    adder.observe(np.array([0.2, 0.7]))
    assert plain.seen == [0.2, 0.7]


def private_metrics(registry: CollectorRegistry) -> telemetry.ServingMetrics:
    """The service's metric families on a private registry (``telemetry.metrics()`` uses the default)."""
    h = lambda name, labels, buckets: Histogram(name, "h", labels, buckets=buckets, registry=registry)  # noqa: E731
    return telemetry.ServingMetrics(
        model_info=Gauge("info", "i", ["model_version", "git_commit", "data_hash"], registry=registry),
        threshold=Gauge("threshold", "t", ["model_version"], registry=registry),
        predictions=Counter("predictions", "p", ["model_version", "label"], registry=registry),
        scores=h("score", ["model_version"], telemetry.SCORE_BUCKETS),
        values=h("value", ["model_version"], telemetry.VALUE_BUCKETS),
        rejections=Counter("rejections", "r", ["field", "rule"], registry=registry),
        log_rows=Counter("log_rows", "l", ["outcome"], registry=registry),
        request_rows=h("rows", [], (1, 10, 100)),
    )


def test_batches_observed_on_the_event_loop_are_added_together_by_a_timer(model) -> None:
    registry = CollectorRegistry()
    metrics = telemetry.ModelMetrics("v", "g", "d", model.spec, private_metrics(registry), flush_s=0.01)
    rng = np.random.default_rng(5)
    batches = [rng.random(n) for n in (1, 57, 100)]
    got = lambda name, **labels: registry.get_sample_value(name, labels) or 0.0  # noqa: E731

    async def serve() -> None:
        for scores in batches:
            metrics.observe(scores, model.spec.decide(scores))
        # Nothing is added on the request path: the loop has not run the timer yet.
        assert got("score_count", model_version="v") == 0
        deadline = time.monotonic() + 30
        while got("score_count", model_version="v") == 0:
            assert time.monotonic() < deadline, "the timer never added the kept batches"
            await asyncio.sleep(0.01)

    asyncio.run(serve())
    scores = np.concatenate(batches)
    positive = int((model.spec.decide(scores) == 1).sum())
    assert got("predictions_total", model_version="v", label="1") == positive
    assert got("predictions_total", model_version="v", label="0") == 158 - positive
    assert got("score_count", model_version="v") == 158
    assert got("score_bucket", model_version="v", le="0.5") == (scores <= 0.5).sum()
    assert got("score_sum", model_version="v") == pytest.approx(scores.sum())
    assert [got("rows_bucket", le=le) for le in ("1.0", "10.0", "100.0")] == [1, 1, 3]
    assert got("rows_sum") == 158
    metrics.flush()  # nothing kept: adds nothing
    assert got("score_count", model_version="v") == 158


# --- prediction log -----------------------------------------------------------------------------


class Counts:
    """Three prometheus counters (written, dropped, failed) on a private registry."""

    def __init__(self) -> None:
        counter = Counter("rows", "r", ["outcome"], registry=CollectorRegistry())
        self.children = [counter.labels(o) for o in telemetry.LOG_OUTCOMES]

    def __getitem__(self, outcome: str) -> float:
        return self.children[telemetry.LOG_OUTCOMES.index(outcome)]._value.get()


def predictions(rows: int, seed: int) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    records = feature_records(generate(rows, seed))
    proba = np.random.default_rng(seed).random(rows)
    return records, proba, proba >= 0.3


def test_log_is_what_the_monitor_reads(tmp_path: Path) -> None:
    """The contract: the monitor's reader (mlapp.monitor.batch) takes the log as written."""
    path, counts = tmp_path / "logs" / "predictions.jsonl", Counts()
    log = predlog.PredictionLog(predlog_file.JsonlFile(path), 1.0, "3b81c20c4786", 10_000, counts.children)
    records, proba, labels = predictions(300, 1)
    for start in range(0, 300, 70):  # several batches, like the service's merged batches
        log.offer(records[start : start + 70], proba[start : start + 70], labels[start : start + 70])
    log.close()
    assert counts["written"] == 300 and counts["dropped"] == counts["failed"] == 0

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [sorted(line) for line in lines[:1]] == [
        ["features", "id", "label", "model_version", "probability", "ts"]
    ]
    assert [line["features"] for line in lines] == records
    assert len({line["id"] for line in lines}) == 300
    assert all(line["ts"].endswith("Z") for line in lines)

    batch = read_batch(str(path), PARAMS)
    assert len(batch.frame) == 300
    assert batch.served is not None and batch.served.model_versions == {"3b81c20c4786": 300}
    np.testing.assert_array_equal(batch.served.probability.to_numpy(), proba)
    assert batch.frame[list(FEATURES)].notna().sum().sum() == sum(
        v is not None for r in records for v in r.values()
    )


def test_sampling_keeps_about_the_rate(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    log = predlog.PredictionLog(predlog_file.JsonlFile(path), 0.2, "v", 10_000, seed=3)
    records, proba, labels = predictions(100, 2)
    for _ in range(40):
        log.offer(records, proba, labels)
    log.close()
    written = len(path.read_text().splitlines())
    assert 650 <= written <= 950  # 4,000 rows at 20%: 800 +- 5.6 standard deviations


class Gate:
    """A sink that blocks until released: the writer falls behind."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.open.wait(30)
        self.data.append(data)

    def close(self) -> None:
        pass


def test_full_buffer_drops_rows_and_counts_them(tmp_path: Path) -> None:
    sink, counts = Gate(), Counts()
    log = predlog.PredictionLog(sink, 1.0, "v", buffer_rows=100, counters=counts.children)
    records, proba, labels = predictions(40, 3)
    for _ in range(10):  # 400 rows offered; the writer holds one batch, the queue ~100 rows
        log.offer(records, proba, labels)  # never blocks: the test would hang here otherwise
    sink.open.set()
    log.close()
    written = sum(len(chunk.splitlines()) for chunk in sink.data)
    assert counts["dropped"] > 0
    assert counts["written"] == written and written + counts["dropped"] == 400
    assert written <= 40 + 100 + 40  # in the writer's hands + the bound + the batch that crossed it


class Broken:
    def write(self, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


def test_write_errors_are_counted_and_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    counts = Counts()
    log = predlog.PredictionLog(Broken(), 1.0, "v", 1_000, counts.children)
    records, proba, labels = predictions(10, 4)
    with caplog.at_level(logging.WARNING, logger=predlog.__name__):
        for _ in range(3):
            log.offer(records, proba, labels)
        log.close()
    assert counts["failed"] == 30 and counts["written"] == 0
    warnings = [r for r in caplog.records if "not written" in r.getMessage()]
    assert len(warnings) == 1  # at most one a minute, not one per batch


def test_a_rotated_file_is_replaced_not_written_behind(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    sink = predlog_file.JsonlFile(path)
    sink.write(b"first\n")
    path.rename(tmp_path / "p.jsonl.1")  # logrotate / a shipper moves it away
    sink.write(b"second\n")
    sink.close()
    assert path.read_text() == "second\n"
    assert (tmp_path / "p.jsonl.1").read_text() == "first\n"


def test_a_full_log_moves_to_dot_1_so_its_disk_use_stays_bounded(tmp_path: Path) -> None:
    """Without a size cap the log grew without bound (187 MB in one flood), on a volume whose
    sizeLimit evicts the pod. Two sinks share the file as a server's workers do: the one that
    finds it full moves it; a second one finding it full too does not move the fresh file over it."""
    path, rotated = tmp_path / "p.jsonl", tmp_path / "p.jsonl.1"
    a, b = predlog_file.JsonlFile(path, max_bytes=20), predlog_file.JsonlFile(path, max_bytes=20)
    a.write(b"a1 ........\n")  # 12 bytes
    b.write(b"b1 ........\n")  # 24: b finds it full and moves it
    assert rotated.read_text() == "a1 ........\nb1 ........\n" and not path.exists()
    b.write(b"b2\n")  # a new file at the path
    assert a._fd is not None
    a._rotate(a._fd)  # a found the old file full at the same time: it must not move b's new one
    assert path.read_text() == "b2\n" and rotated.read_text().startswith("a1")
    a.write(b"a2\n")
    assert path.read_text() == "b2\na2\n"
    for _ in range(10):
        a.write(b"x" * 9 + b"\n")
    a.close()
    b.close()
    assert sum(f.stat().st_size for f in tmp_path.iterdir()) < 2 * 20 + 10  # 13 writes: 136 bytes
    assert rotated.stat().st_size < 20 + 10


def test_open_log_is_off_at_rate_zero_or_on_a_read_only_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert predlog.open_log(tmp_path / "p.jsonl", 0.0, "v", 10, Counts().children) is None
    (tmp_path / "file").write_text("")
    with caplog.at_level(logging.WARNING, logger=predlog.__name__):
        assert predlog.open_log(tmp_path / "file" / "p.jsonl", 0.5, "v", 10, Counts().children) is None
    assert "MLAPP_PREDICTION_LOG" in caplog.text
    log = predlog.open_log(tmp_path / "ok" / "p.jsonl", 0.5, "v", 10, Counts().children)
    assert log is not None
    log.close()


def test_shipped_params_log_a_sample_by_default() -> None:
    serving = load_params(Path(__file__).resolve().parents[2] / "params.yaml").serving
    assert 0 < serving.log_sample_rate < 1
    assert serving.log_path.suffix == ".jsonl"  # the monitor picks the reader by suffix


# --- the service class: counters move by exactly what was served ---------------------------------
# (One BentoML ASGI app per process: test_service.py owns it. Rejections, which need the HTTP
# layer, are counted exactly in test_dashboard.py against the real server.)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_predictions_and_scores_are_counted_per_row(service_module, model, records) -> None:
    service = service_module.ModelService.inner()
    version = model.version
    series = {
        "label 1": ("mlapp_predictions_total", {"label": "1"}),
        "label 0": ("mlapp_predictions_total", {"label": "0"}),
        "scores": ("mlapp_prediction_score_count", {}),
        "scores <= 0.1": ("mlapp_prediction_score_bucket", {"le": "0.1"}),
    }
    read = lambda: {k: value(n, model_version=version, **lb) for k, (n, lb) in series.items()}  # noqa: E731
    before = read()
    served = json.loads(service.score(json.dumps({"records": records[:57]}).encode()))
    labels = np.array([p["label"] for p in served])
    scores = np.array([p["probability"] for p in served])
    moved = {k: v - before[k] for k, v in read().items()}
    assert moved == {
        "label 1": labels.sum(),
        "label 0": 57 - labels.sum(),
        "scores": 57,
        "scores <= 0.1": (scores <= 0.1).sum(),
    }
    assert value("mlapp_model_info", model_version=version, git_commit="unknown", data_hash="unknown") == 1
    assert value("mlapp_model_threshold", model_version=version) == model.spec.threshold
