"""The BentoML service: validated batch predictions from the pipeline's model.

Run it with ``mlapp serving serve`` (``bentoml serve mlapp.serving.service:ModelService``).
The request path, and why it is shaped like this:

1. BentoML parses the JSON body with pydantic-core straight into ``list[Record]``, the
   record type derived from the training schema (``records.py``). A bad record is a 400
   naming the field (``loc``) and rule (``type``/``msg``) *before* the request joins a
   batch, so one client's bad input never fails another client's request.
2. ``predict`` is batchable: under load BentoML's dispatcher merges concurrent requests
   (up to ``serving.batch_max_rows`` rows) into one call.
3. The merged records become one float32 matrix (``Encoder``) for XGBoost's
   ``inplace_predict``: no pandas, no pandera, no DMatrix per call.
4. Per batch, the model's Prometheus series (``telemetry.py``: predictions by label, score
   histogram, model info) are updated and a sample of rows is queued for the JSONL
   prediction log (``predlog.py``, written by a background thread). Rejected requests are
   counted by field and rule by the ``CountRejections`` middleware.

Model version, git commit and data hash travel in response headers on every response
(``X-Model-Version``, ``X-Git-Commit``, ``X-Data-Hash``); ``/metadata`` has the rest.

Configuration is read once at import, because BentoML's decorators need it then:
``params.yaml`` (``$MLAPP_PARAMS`` overrides the path) and the model folder
(``train.model_dir``, ``$MLAPP_MODEL_DIR`` overrides).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any, cast

import bentoml
import numpy as np
from bentoml.validators import ContentType
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlapp.model import Model, load
from mlapp.params import Params, load_params
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV, PREDICTION_LOG_ENV, lineage, predlog, telemetry
from mlapp.serving.records import Encoder, Prediction, check_compatible, record_type
from mlapp.tables import read_json

HEADER_NAMES = {
    "model_version": "x-model-version",
    "git_commit": "x-git-commit",
    "data_hash": "x-data-hash",
}

PARAMS: Params = load_params(os.environ.get(PARAMS_ENV) or "params.yaml")
SERVING = PARAMS.serving
Record = record_type(FEATURES)
# Empty and oversized requests are rejected while parsing, before batching (400).
Records = Annotated[list[Record], Field(min_length=1, max_length=SERVING.max_rows)]  # type: ignore[valid-type]
# A declared media type spares BentoML a JSON-schema build per response (~16% of CPU at 100 rows).
PredictionList = Annotated[list[Prediction], ContentType("application/json")]


# Absolute now: relative paths mean the directory the service was imported from.
ROOT = Path.cwd()
MODEL_DIR = Path(os.environ.get(MODEL_DIR_ENV) or PARAMS.train.model_dir).resolve()
LINEAGE_FILE = SERVING.lineage.resolve()
METRICS_FILE = PARAMS.evaluate.metrics.resolve()
PREDICTION_LOG = Path(os.environ.get(PREDICTION_LOG_ENV) or SERVING.log_path).resolve()


class Limits(BaseModel):
    max_rows: int


class Metadata(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    threshold: float
    features: list[str]
    categories: dict[str, list[str]]
    lineage: lineage.Lineage
    metrics: dict[str, float]  # metrics/metrics.json of the evaluated model ({} if absent)
    limits: Limits


class ModelHeaders:
    """ASGI middleware: every HTTP response says which model answered it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = bentoml.get_current_service()
        extra: list[tuple[bytes, bytes]] = getattr(service, "response_headers", [])

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class JsonOnly:
    """ASGI middleware: a POST body must be JSON (415 otherwise).

    BentoML would hand multipart and form bodies to its multipart parser, where a malformed
    body becomes a 500; the service has no file inputs, so say what it takes instead.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = dict(scope["headers"]).get(b"content-type", b"application/json")
            media = content_type.split(b";")[0].strip().lower()
            if media != b"application/json" and not media.endswith(b"+json"):
                reply = JSONResponse(
                    {
                        "error": f"unsupported Content-Type {media.decode(errors='replace')!r}: "
                        "send application/json"
                    },
                    status_code=415,
                )
                await reply(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RejectedInputLog(logging.Filter):
    """A request that fails validation is the client's error: one INFO line, not an ERROR traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            record.msg = f"{record.getMessage()}: rejected input ({error.error_count()} validation errors)"
            record.args = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def read_metrics(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    return {k: float(v) for k, v in read_json(path).items() if isinstance(v, int | float)}


@bentoml.service(
    traffic={"timeout": SERVING.timeout_s, "max_concurrency": SERVING.max_concurrency},
    workers=SERVING.workers,
    logging={"access": {"enabled": SERVING.access_log}},
)
class ModelService:
    """Positive-class probability for records validated by the training schema."""

    def __init__(self) -> None:
        folder = MODEL_DIR
        self.model: Model = load(folder)
        check_compatible(FEATURES, self.model.spec)  # refuse to start on a schema/model mismatch
        # One thread per call: on shared cores OpenMP barriers stall 1-row calls ~25 ms.
        self.model.booster.set_param({"nthread": SERVING.predict_threads})
        self.encoder = Encoder(self.model.spec)
        self.threshold = self.model.spec.threshold
        self.lineage = lineage.resolve(folder, LINEAGE_FILE, root=ROOT)
        self.meta = Metadata(
            model_version=self.model.version,
            threshold=self.threshold,
            features=self.model.spec.features,
            categories=self.model.spec.categories,
            lineage=self.lineage,
            metrics=read_metrics(METRICS_FILE),
            limits=Limits(max_rows=SERVING.max_rows),
        )
        facts = self.lineage.model_dump()
        self.response_headers = [(h.encode(), str(facts[k]).encode()) for k, h in HEADER_NAMES.items()]
        # Prometheus series of this model and the sampled prediction log (telemetry.py, predlog.py).
        metrics = telemetry.metrics()
        self.model_metrics = telemetry.ModelMetrics(
            self.model.version, self.lineage.git_commit, self.lineage.data_hash, self.threshold, metrics
        )
        self.prediction_log = predlog.open_log(
            PREDICTION_LOG,
            SERVING.log_sample_rate,
            self.model.version,
            SERVING.log_buffer_rows,
            [metrics.log_rows.labels(outcome) for outcome in telemetry.LOG_OUTCOMES],
        )

    @bentoml.api(
        batchable=True,
        max_batch_size=SERVING.batch_max_rows,
        max_latency_ms=SERVING.batch_max_latency_ms,
    )
    async def predict(self, records: Records) -> PredictionList:
        """Probability of churn and the label at the model's threshold, one per record, in order."""
        # async: BentoML runs the merged batch on the event loop instead of a worker thread.
        # A batch takes ~1-20 ms; the thread hop and the GIL ping-pong with the loop cost more
        # (measured: -10% CPU per 100-row request, -25% per 1-row request).
        # float64 before the threshold, exactly like Model.predict (a float32 compare can flip a label).
        proba = self.model.booster.inplace_predict(self.encoder.matrix(records)).astype(np.float64)
        positive = proba >= self.threshold
        # Per batch, not per row: a few counter increments, and the log only queues its sample.
        self.model_metrics.observe(proba, int(np.count_nonzero(positive)))
        if self.prediction_log is not None:
            self.prediction_log.offer(records, proba, positive)
        labels = positive.astype(np.int64).tolist()
        return [{"probability": p, "label": y} for p, y in zip(proba.tolist(), labels, strict=True)]

    @bentoml.api(route="/metadata")
    def metadata(self) -> Metadata:
        """Model version, lineage (git commit, data hash), test-set metrics, threshold, limits."""
        return self.meta

    @bentoml.on_shutdown
    def close_prediction_log(self) -> None:
        """Write the rows still queued before the worker exits."""
        if self.prediction_log is not None:
            self.prediction_log.close()


# BentoML documents a 400 body's `detail` as a string, but a validation error sends the list
# of pydantic errors: /docs.json is served here (mounted routes match before BentoML's own)
# with the real shape, so clients and schemathesis check against what the service does.
VALIDATION_ISSUE = {
    "type": "object",
    "required": ["type", "loc", "msg"],
    "properties": {
        "type": {"type": "string", "description": "the rule, e.g. less_than_equal, literal_error, missing"},
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
    },
}


def openapi_spec() -> dict[str, Any]:
    spec: dict[str, Any] = cast(Any, ModelService).openapi_spec.asdict()
    detail = spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]
    detail.clear()
    detail.update(
        {"title": "Error Detail", "anyOf": [{"type": "string"}, {"type": "array", "items": VALIDATION_ISSUE}]}
    )
    # An API whose input has required fields needs a body: say so (BentoML leaves it optional).
    for item in spec["paths"].values():
        body = item.get("post", {}).get("requestBody")
        if body and any(m.get("schema", {}).get("required") for m in body.get("content", {}).values()):
            body["required"] = True
    return spec


async def docs_json(_request: Request) -> JSONResponse:
    return JSONResponse(openapi_spec())


service = cast(Any, ModelService)  # a bentoml Service at runtime, not a class
service.add_asgi_middleware(telemetry.CountRejections)  # outermost of ours: sees JsonOnly's 415 too
service.add_asgi_middleware(JsonOnly)
logging.getLogger("bentoml._internal.server.http_app").addFilter(
    RejectedInputLog()
)  # BentoML's log_exception
service.add_asgi_middleware(ModelHeaders)
service.mount_asgi_app(Starlette(routes=[Route("/docs.json", docs_json)]), path="/")
