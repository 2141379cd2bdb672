"""The BentoML service: validated predictions from the pipeline's model.

Run it with ``mlapp serving serve`` (``bentoml serve mlapp.serving.service:ModelService``).
BentoML runs the workers, the health probes (``/livez``, ``/readyz``), ``/metrics``, the
traffic limits and the bento/image; the request path is ours:

- Headers have a read deadline in the HTTP server itself (``header_deadline.py``).
- ``POST /predict`` is a plain ASGI endpoint (``endpoint.py``) mounted on the service:
  admission before parsing (``admission.py``: Content-Type, body cap, body deadline), then
  ``ModelService.score_yielding`` on the raw body: columnar validation with the training
  schema's rules (``request.py``, ``columns.py``; pydantic names the field and rule of a
  400), float32 matrices for XGBoost's ``inplace_predict`` (``serving.chunk_rows`` rows at
  a time, taking turns with other requests: ``turns.py``), the JSON answer (``responses.py``).
- Per request, the model's Prometheus series (``telemetry.py``) are updated and a sample
  of rows is formatted for the JSONL prediction log (``predlog.py``: a thread writes it).
- The kubelet's probes have a port of their own, answered by a thread of each worker from its
  event loop's heartbeat (``probes.py``): no probe waits behind a flood in the listen queue.
- Optional bearer tokens (``auth.py``) guard ``/predict``, ``/metadata`` and ``/metrics``; any
  other path than the service's is a 404 before BentoML's request metrics (``paths.py``,
  installed with the header deadline).
- Model version, git commit and data hash travel in response headers on every response
  (``X-Model-Version``, ``X-Git-Commit``, ``X-Data-Hash``); ``/metadata`` has the rest
  (``metadata.py``).

Settings are built once, when BentoML loads this module (``settings.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Generator
from typing import Any, cast

import bentoml
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlapp.model import Model, load
from mlapp.schema import FEATURES
from mlapp.serving import (
    auth,
    header_deadline,
    lineage,
    openapi,
    predlog,
    probes,
    responses,
    settings,
    telemetry,
    timeout,
)
from mlapp.serving.endpoint import PredictEndpoint
from mlapp.serving.metadata import Metadata, describe, headers
from mlapp.serving.paths import KnownPaths
from mlapp.serving.records import check_compatible
from mlapp.serving.request import RequestParser
from mlapp.serving.turns import Turns

SETTINGS = settings.load()
SERVING = SETTINGS.serving
# Tracing costs ~10% CPU per request even when no span is exported: only when configured.
TRACING = {} if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else {"excluded_urls": ["."]}
# Bound once: ``bentoml.<name>`` goes through BentoML's lazy module ``__getattr__`` (two imports)
# on every access, and the request path asks for the service twice per request.
current_service = bentoml.get_current_service


class ModelHeaders:
    """ASGI middleware: every HTTP response says which model answered it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = current_service()
        extra: list[tuple[bytes, bytes]] = getattr(service, "response_headers", [])

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@bentoml.service(
    traffic={"timeout": SERVING.timeout_s, "max_concurrency": SERVING.max_concurrency},
    workers=SETTINGS.workers,
    logging={"access": {"enabled": SERVING.access_log}},
    tracing=cast(Any, TRACING),
)
class ModelService:
    """The model's prediction (per its task) for records validated by the training schema."""

    def __init__(self) -> None:
        # BentoML leaves the root logger at WARNING: our INFO lines (refusal reports) should show.
        logging.getLogger("mlapp").setLevel(logging.INFO)
        folder = SETTINGS.model_dir
        self.model: Model = load(folder)
        check_compatible(FEATURES, self.model.spec)  # refuse to start on a schema/model mismatch
        # One thread per call: on shared cores OpenMP barriers stall 1-row calls ~25 ms.
        self.model.booster.set_param({"nthread": SERVING.predict_threads})
        self.parser = RequestParser(
            FEATURES,
            self.model.spec,
            SERVING.max_rows,
            SERVING.max_error_details,
            id_column=SETTINGS.id_column,
            time_column=SETTINGS.time_column,
            group_column=SETTINGS.group_column,
            ignore_columns=SETTINGS.ignore_columns,
        )
        self.chunk_rows = SERVING.chunk_rows
        self.turns: Turns[bytes] = Turns(SERVING.loop_slice_ms / 1000)
        self.probe_listener: probes.Probes | None = None  # started with the service (start_probes)
        self.threshold = self.model.spec.threshold  # binary only; None for the other tasks
        self.lineage = lineage.resolve(folder, SETTINGS.lineage_file, root=SETTINGS.root)
        self.meta = describe(self.model, self.lineage, SETTINGS)  # /metadata (metadata.py)
        self.response_headers = headers(self.lineage)
        # Prometheus series of this model and the sampled prediction log (telemetry.py, predlog.py).
        metrics = telemetry.metrics()
        self.model_metrics = telemetry.ModelMetrics(
            self.model.version, self.lineage.git_commit, self.lineage.data_hash, self.model.spec, metrics
        )
        self.no_classes = np.zeros(SERVING.max_rows, dtype=np.int64)  # regression has no decision
        self.prediction_log = predlog.open_log(
            SETTINGS.prediction_log,
            SERVING.log_sample_rate,
            self.model.version,
            SERVING.log_buffer_rows,
            [metrics.log_rows.labels(outcome) for outcome in telemetry.LOG_OUTCOMES],
            self.model.spec,
            SERVING.log_max_bytes,
        )

    def score(self, body: bytes) -> bytes:
        """A ``/predict`` body to its JSON answer; ``admission.Refused`` (400) for invalid input."""
        steps = self.steps(body)
        try:
            while True:
                next(steps)
        except StopIteration as done:
            return cast(bytes, done.value)

    async def score_yielding(self, body: bytes) -> bytes:
        """``score``, its steps taking turns with the other requests' on the event loop (turns.py)."""
        return await self.turns.run(self.steps(body))

    def steps(self, body: bytes) -> Generator[None, None, bytes]:
        """Validate and predict ``serving.chunk_rows`` rows at a time, yielding in between."""
        records = self.parser.records(body)
        parts: list[np.ndarray] = []
        if records is not None:
            for start in range(0, len(records), self.chunk_rows):
                if start:
                    yield
                matrix = self.parser.fast.matrix(records[start : start + self.chunk_rows])
                if matrix is None:  # something is off: the slow path names it (or accepts it)
                    break
                parts.append(self.model.booster.inplace_predict(matrix))
        if records is None or sum(map(len, parts)) != len(records):
            records, matrix = self.parser.slow(body)
            parts = [self.model.booster.inplace_predict(matrix)]
        # float64 before the threshold, exactly like Model.predict (a float32 compare can flip a label).
        scores = (parts[0] if len(parts) == 1 else np.concatenate(parts)).astype(np.float64)
        spec = self.model.spec
        decided = self.no_classes[: len(scores)] if spec.task == "regression" else spec.decide(scores)
        # Per request, not per row: the metrics keep the batch, the log queues its sample.
        self.model_metrics.observe(scores, decided)
        if self.prediction_log is not None:
            self.prediction_log.offer(records, scores, decided)
        return responses.answer(spec, scores, decided)

    def metadata(self) -> Metadata:
        """Model version, lineage (git commit, data hash), test-set metrics, threshold, limits."""
        return self.meta

    @bentoml.on_startup
    async def start_probes(self) -> None:
        """The probe port's listener, ready from now on: the model is loaded (probes.py)."""
        self.probe_listener = probes.open_probes(os.environ, SERVING)
        if self.probe_listener is not None:
            self.probe_listener.start(asyncio.get_running_loop())

    @bentoml.on_shutdown
    def stop_worker(self) -> None:
        """Stop answering probes ready; write the rows and metrics still queued before the worker exits."""
        if self.probe_listener is not None:
            self.probe_listener.stop()
        self.model_metrics.flush()
        if self.prediction_log is not None:
            self.prediction_log.close()


def live_service() -> ModelService:
    return cast(ModelService, current_service())


async def docs_json(_request: Request) -> Response:
    return Response(docs_bytes(live_service()), media_type="application/json")


@functools.cache  # once per worker (one service, one model): it cost ~2.3 ms a request (docs/serving.md)
def docs_bytes(service: ModelService) -> bytes:
    document = openapi.spec(
        cast(Any, ModelService).openapi_spec.asdict(), SERVING.max_rows, Metadata, service.model.spec
    )
    return bytes(JSONResponse(document).body)


async def metadata(_request: Request) -> Response:
    # A plain route, not a @bentoml.api: no body is read, so no body can make it fail (GET or POST).
    return Response(live_service().meta.model_dump_json(), media_type="application/json")


# Before the worker builds its uvicorn server: a deadline and a size cap for headers (header_deadline.py).
header_deadline.install(SERVING, telemetry.count_refusal, KnownPaths)
timeout.install()  # BentoML's serving.timeout_s, its timer cancelled once answered (timeout.py)
PREDICT = PredictEndpoint(
    live_service,
    telemetry.count_refusal,
    SETTINGS.body_cap,
    SERVING.body_timeout_s,
    SETTINGS.body_budget,
)
service = cast(Any, ModelService)  # a bentoml Service at runtime, not a class
service.add_asgi_middleware(auth.BearerAuth)  # outermost of ours: a 401 costs nothing else
service.add_asgi_middleware(ModelHeaders)
# Mounted routes are matched after BentoML's own API routes: /predict and /docs.json are ours.
# A new route must be listed in paths.ROUTES too: any other path is a 404 (paths.py).
service.mount_asgi_app(
    Starlette(
        routes=[
            Route("/predict", PREDICT),
            Route("/metadata", metadata, methods=["GET", "POST"]),
            Route("/docs.json", docs_json),
        ]
    ),
    path="/",
)
