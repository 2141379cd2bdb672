"""Sampled prediction log: a JSONL file that ``mlapp monitor run --source <log>`` reads.

One line per sampled row, the format docs/monitoring.md documents and
``mlapp.monitor.batch`` reads::

    {"id": "5f0c2a9e-0000001a", "ts": "2026-11-23T10:00:00.123Z", "features": {...},
     "probability": 0.31, "label": 1, "model_version": "3b81c20c4786"}

The prediction fields are the task's, as ``/predict`` answers: binary ``probability`` and
``label``; multiclass ``label`` and ``probabilities``; regression ``prediction``.

``features`` is the validated request record, ``label`` the service's decision, ``id``
unique per row (a random per-process prefix and a counter), ``ts`` the prediction time (UTC).

On the request path, ``offer`` draws which rows of a batch are sampled
(``serving.log_sample_rate``) and formats them (a few microseconds a row); a daemon thread
wakes every ``FLUSH_S``, takes what is pending and appends it to the file, so requests never
wait for I/O. At most ``serving.log_buffer_rows`` rows wait: when the writer falls behind
(a blocked disk), new rows are dropped and counted (``outcome="dropped"``), never waited for.
A failing write (disk full, read-only path) is counted (``outcome="failed"``) and logged at
most once a minute; requests never see it.

The file (``predlog_file.py``) takes each batch as one locked append, shared by the workers
of one server; it cuts a line a killed worker left unfinished, starts anew when the file is
moved away, and moves it to ``<path>.1`` at ``serving.log_max_bytes``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mlapp.model import ModelSpec
from mlapp.serving.predlog_file import JsonlFile, Sink

logger = logging.getLogger(__name__)
ENV = "MLAPP_PREDICTION_LOG"  # named in the start-up warning (mlapp.serving.PREDICTION_LOG_ENV)
WARN_EVERY_S = 60.0
FLUSH_S = 0.25  # the writer wakes at most this often; rows reach the file within about this


def timestamp(when: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, e.g. 2026-11-23T10:00:00.123Z."""
    seconds = int(when)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((when - seconds) * 1000):03d}Z"


class PredictionLog:
    """Samples and formats rows on the request path; a thread of its own hands them to ``sink``."""

    def __init__(
        self,
        sink: Sink,
        sample_rate: float,
        model_version: str,
        buffer_rows: int,
        counters: Sequence[Any] | None = None,  # written, dropped, failed (prometheus children)
        seed: int | None = None,
        spec: ModelSpec | None = None,  # the task and classes; None: binary 0/1
    ) -> None:
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}: 0 means no log at all")
        self.sink = sink
        self.sample_rate = sample_rate
        self.model_version = model_version
        self.buffer_rows = buffer_rows
        self._rng = np.random.default_rng(seed)
        self._written: Any
        self._dropped: Any
        self._failed: Any
        self._written, self._dropped, self._failed = counters or (None, None, None)
        self._prefix = secrets.token_hex(4)  # ids stay unique across workers and restarts
        self.task = spec.task if spec else "binary"
        self._classes = spec.classes if spec else ["0", "1"]
        self._label_json = [json.dumps(v) for v in (spec.class_values() if spec else [0, 1])]
        self._tail = f',"model_version":{json.dumps(model_version)}}}'
        self._count = 0
        self._warned_at = -WARN_EVERY_S
        # Lines waiting for the writer: appended by requests (the event loop, or the thread
        # of a large request), taken as a whole by the writer. The lock is held for an append
        # or a swap, never for I/O.
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # --- request path (event loop) ---

    def offer(self, records: Sequence[Any], proba: np.ndarray, labels: np.ndarray) -> None:
        """Format this batch's sampled rows and queue them; never blocks on I/O, never raises."""
        try:
            if self.sample_rate >= 1:
                rows, scores, decided = records, proba.tolist(), labels.tolist()
            else:
                picked = np.flatnonzero(self._rng.random(len(records)) < self.sample_rate)
                if not len(picked):
                    return
                rows = [records[i] for i in picked.tolist()]
                scores, decided = proba[picked].tolist(), labels[picked].tolist()
            with self._lock:
                if len(self._pending) >= self.buffer_rows:
                    self._inc(self._dropped, len(rows))
                    return
                self._pending += self._lines(time.time(), rows, scores, decided)
        except Exception:  # the log must never fail a prediction
            logger.exception("prediction log: could not queue a batch")

    def _lines(self, when: float, records: Sequence[Any], scores: list[Any], decided: list[Any]) -> list[str]:
        """The JSON lines of one batch. Only ``features`` goes through a JSON encoder (orjson:
        validated, finite numbers only); the other fields are hex, ISO time, finite floats and
        class values. Done here, not by the writer: a second thread running Python competes
        with the event loop for the GIL, and on a busy machine a preempted holder stalls it."""
        head = f'{{"id":"{self._prefix}-%08x","ts":"{timestamp(when)}","features":'
        tail = self._tail
        first = self._count + 1
        self._count += len(records)
        return [
            f"{head % n}{orjson.dumps(record).decode()},{self._outputs(p, y)}{tail}"
            for n, record, p, y in zip(
                range(first, first + len(records)), records, scores, decided, strict=True
            )
        ]

    def _outputs(self, score: Any, decided: int) -> str:
        """The task's response fields, as /predict answers them."""
        if self.task == "regression":
            return f'"prediction":{score!r}'
        if self.task == "multiclass":
            probabilities = ",".join(
                f"{json.dumps(c)}:{p!r}" for c, p in zip(self._classes, score, strict=True)
            )
            return f'"label":{self._label_json[decided]},"probabilities":{{{probabilities}}}'
        return f'"probability":{score!r},"label":{self._label_json[decided]}'

    # --- writer thread: wakes every FLUSH_S, takes what is pending, one write() ---

    def _run(self) -> None:
        stop = False
        while not stop:
            stop = self._stopping.wait(FLUSH_S)
            with self._lock:
                lines, self._pending = self._pending, []
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self.sink.write(("\n".join(lines) + "\n").encode())
        except Exception as exc:
            self._inc(self._failed, len(lines))
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                logger.warning(
                    "prediction log: %d rows not written (%s: %s)", len(lines), type(exc).__name__, exc
                )
        else:
            self._inc(self._written, len(lines))

    @staticmethod
    def _inc(counter: Any, rows: int) -> None:
        if counter is not None and rows:
            counter.inc(rows)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is pending (up to ``timeout_s``), then stop the writer and close the sink."""
        self._stopping.set()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.sink.close()


def open_log(
    path: Path,
    sample_rate: float,
    model_version: str,
    buffer_rows: int,
    counters: Sequence[Any],
    spec: ModelSpec | None = None,
    max_bytes: int | None = None,
) -> PredictionLog | None:
    """The service's log per ``serving.log_*`` params; ``None`` when sampling is off (rate 0).

    A path that cannot be written at start-up (a read-only container filesystem) turns the
    log off with one warning instead of failing every write.
    """
    if sample_rate == 0:
        return None
    sink = JsonlFile(path, max_bytes)
    try:
        sink.write(b"")
    except OSError as exc:
        logger.warning("prediction log off: cannot write %s (%s); set $%s to a writable path", path, exc, ENV)
        return None
    return PredictionLog(sink, sample_rate, model_version, buffer_rows, counters, spec=spec)
