"""Prometheus metrics an ML on-call needs, beyond BentoML's request metrics.

BentoML already exports, per endpoint and status, ``bentoml_service_request_total``,
``bentoml_service_request_duration_seconds`` (histogram) and ``..._request_in_progress``.
This module adds what the model did:

| metric | type | labels |
|---|---|---|
| ``mlapp_model_info`` (always 1) | gauge | ``model_version``, ``git_commit``, ``data_hash`` |
| ``mlapp_model_threshold`` | gauge | ``model_version`` |
| ``mlapp_predictions_total`` (rows; classification) | counter | ``model_version``, ``label`` (class) |
| ``mlapp_prediction_score`` (classification) | histogram (0.05 buckets) | ``model_version`` |
| ``mlapp_prediction_value`` (regression) | histogram (1-2.5-5 decades, both signs) | ``model_version`` |
| ``mlapp_rejections_total`` (refused requests) | counter | ``field``, ``rule`` |
| ``mlapp_prediction_log_rows_total`` | counter | ``outcome``: written, dropped, failed |
| ``mlapp_request_rows`` (rows per request) | histogram | |

How they reach ``/metrics``: BentoML 1.4 serves it from prometheus_client's multiprocess
files (``PROMETHEUS_MULTIPROC_DIR``, in each worker's environment), so metrics are plain
``prometheus_client`` objects on the default registry, created on first use inside the
worker (``metrics()``), never at import: the ``bentoml serve`` parent imports this module
too, and a metric created there would be invisible to the workers' collector.

Cost on the request path: ``ModelMetrics.observe`` only keeps the batch; within
``FLUSH_S`` (one event-loop timer) the batches kept so far are added at once: one ``inc``
per label and one per non-empty bucket (``BulkHistogram``), not per row and not per
request. Each ``inc`` is a locked mmap write (~3 us); per 100-row request they were ~25,
~4% of the request's CPU. Without a running event loop (in-process scoring) a batch is
added at once.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlapp.model import ModelSpec

logger = logging.getLogger(__name__)
PREFIX = "mlapp"
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05, 0.10, ... 1.0
# Regression values have no fixed range: 1, 2.5, 5 per decade from 0.01 to 5e6, both signs, and 0.
_DECADES = sorted({round(m * 10.0**e, 2) for e in range(-2, 7) for m in (1, 2.5, 5)})
VALUE_BUCKETS = (*(-v for v in reversed(_DECADES)), 0.0, *_DECADES)
LOG_OUTCOMES = ("written", "dropped", "failed")
SMALL_BATCH = 8  # up to this many scores, a Python loop beats numpy's per-call overhead
FLUSH_S = 0.25  # observed batches reach the metrics within about this (scrapes are 15 s+ apart)


@dataclass(frozen=True)
class ServingMetrics:
    model_info: Any  # prometheus_client Gauge / Counter / Histogram (imported lazily)
    threshold: Any
    predictions: Any
    scores: Any
    values: Any
    rejections: Any
    log_rows: Any
    request_rows: Any


@functools.cache
def metrics() -> ServingMetrics:
    """The process's metrics, created once (a second registration would raise)."""
    # Imported here, in the worker, after BentoML has set PROMETHEUS_MULTIPROC_DIR.
    from prometheus_client import Counter, Gauge, Histogram

    return ServingMetrics(
        model_info=Gauge(
            f"{PREFIX}_model_info",
            "The served model (always 1): version, git commit and data hash it was trained from",
            ["model_version", "git_commit", "data_hash"],
            multiprocess_mode="max",  # one series for all workers, not one per pid
        ),
        threshold=Gauge(
            f"{PREFIX}_model_threshold",
            "Decision threshold: probability >= threshold gives label 1",
            ["model_version"],
            multiprocess_mode="max",
        ),
        predictions=Counter(
            f"{PREFIX}_predictions", "Predicted rows by predicted label", ["model_version", "label"]
        ),
        scores=Histogram(
            f"{PREFIX}_prediction_score",
            "Predicted probability of the positive class (multiclass: of the predicted class), per row",
            ["model_version"],
            buckets=SCORE_BUCKETS,
        ),
        values=Histogram(
            f"{PREFIX}_prediction_value",
            "Predicted value (regression), per row",
            ["model_version"],
            buckets=VALUE_BUCKETS,
        ),
        rejections=Counter(
            f"{PREFIX}_rejections",
            "Refused requests (4xx before prediction; 499: client left mid-body) by field and rule; "
            "a request counts once per distinct (field, rule)",
            ["field", "rule"],
        ),
        request_rows=Histogram(
            f"{PREFIX}_request_rows",
            "Rows per predicted /predict request",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
        ),
        log_rows=Counter(
            f"{PREFIX}_prediction_log_rows",
            "Sampled prediction-log rows: written, dropped (buffer full) or failed (write error)",
            ["outcome"],
        ),
    )


class BulkHistogram:
    """Adds a whole batch of observations to one histogram child at once.

    prometheus_client has no batch ``observe``; per row it costs ~2 us (two locked mmap
    writes in multiprocess mode): ~7% of the CPU of a 100-row request. This adds
    each bucket's count with one ``inc``, through the child's ``_upper_bounds``,
    ``_buckets`` (non-cumulative counts) and ``_sum``: the same values ``observe`` would
    write (tests/serving/test_telemetry.py compares both; benchmarks/telemetry.py measures the
    gain: ~8x per 100-row request in multiprocess mode). A prometheus_client without
    those attributes falls back to ``observe`` per value.
    """

    def __init__(self, child: Any) -> None:
        self.child = child
        bounds: Any = getattr(child, "_upper_bounds", None)
        buckets: Any = getattr(child, "_buckets", None)
        total: Any = getattr(child, "_sum", None)
        self.bulk = isinstance(buckets, list) and bool(bounds) and len(buckets) == len(bounds)
        self.bulk = self.bulk and total is not None
        self._edges = np.asarray(bounds if self.bulk else [], dtype=np.float64)
        self._edge_list: list[float] = self._edges.tolist()
        self._buckets: list[Any] = buckets if self.bulk else []
        self._sum: Any = total

    def observe(self, values: np.ndarray) -> None:
        if not self.bulk:
            for value in values.tolist():
                self.child.observe(value)
            return
        # Bucket i holds the values with edges[i-1] < v <= edges[i]: bisect's/searchsorted's "left".
        if len(values) <= SMALL_BATCH:  # numpy's fixed cost (~10 us) is more than a short loop
            listed = values.tolist()
            for value in listed:
                self._buckets[bisect.bisect_left(self._edge_list, value)].inc(1)
            self._sum.inc(sum(listed))
            return
        counts = np.bincount(np.searchsorted(self._edges, values, side="left"), minlength=len(self._edges))
        for i in np.flatnonzero(counts).tolist():
            self._buckets[i].inc(int(counts[i]))
        self._sum.inc(float(values.sum()))


class ModelMetrics:
    """The served model's series, resolved once at start-up (``labels()`` per call costs)."""

    def __init__(
        self,
        model_version: str,
        git_commit: str,
        data_hash: str,
        spec: ModelSpec,
        m: ServingMetrics,
        flush_s: float = FLUSH_S,
    ) -> None:
        m.model_info.labels(model_version, git_commit, data_hash).set(1)
        if spec.threshold is not None:
            m.threshold.labels(model_version).set(spec.threshold)
        self.task = spec.task
        # Every class exists from the start, so rate() and ratios are defined before the first row.
        self._classes = [m.predictions.labels(model_version, name) for name in spec.classes]
        histogram = m.values if spec.task == "regression" else m.scores
        self._scores = BulkHistogram(histogram.labels(model_version))
        self._rows = BulkHistogram(m.request_rows)
        for outcome in LOG_OUTCOMES:
            m.log_rows.labels(outcome)
        self.flush_s = flush_s
        self._batches: list[tuple[np.ndarray, np.ndarray]] = []  # kept, not yet added
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, scores: np.ndarray, decided: np.ndarray) -> None:
        """One batch: its scores (binary: P(positive); multiclass: rows x classes) and class indices."""
        self._batches.append((scores, decided))
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (in-process scoring): add it now
            self.flush()
            return
        self._timer = loop.call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        """Add every kept batch to the metrics (also at shutdown)."""
        self._timer, batches, self._batches = None, self._batches, []
        if not batches:
            return
        try:
            scores = np.concatenate([s for s, _ in batches])
            if self.task != "regression":
                decided = np.concatenate([d for _, d in batches])
                counts = np.bincount(decided, minlength=len(self._classes)).tolist()
                for child, count in zip(self._classes, counts, strict=True):
                    if count:
                        child.inc(count)
            if self.task == "multiclass":
                scores = scores.max(axis=1)  # the predicted class's probability: the model's confidence
            self._scores.observe(scores)
            self._rows.observe(np.array([len(s) for s, _ in batches], dtype=np.float64))
        except Exception:  # metrics must never fail the event loop or a prediction
            logger.exception("could not add %d batches to the metrics", len(batches))


# --- refused requests ------------------------------------------------------------------------


def count_refusal(status: int, labels: set[tuple[str, str]]) -> None:
    """One refused request (4xx before prediction, or 499: the client left): once per (field, rule)."""
    counter = metrics().rejections
    for field, rule in labels:
        counter.labels(field, rule).inc()
