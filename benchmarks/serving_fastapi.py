"""Baselines for benchmarks/serving.py: FastAPI + uvicorn, one worker, no batching.

- ``app`` (``uvicorn serving_fastapi:app``): as a team would first write it: JSON records ->
  DataFrame -> the training schema's pandera validation (``feature_schema()``, coerce on)
  -> ``Model.predict_proba`` (the pipeline's pandas path).
- ``same_app`` (``uvicorn serving_fastapi:same_app``): the service's own request path
  (``RequestParser``: columnar validation, pydantic errors; ``inplace_predict``; the same
  response builder) behind plain FastAPI: the framework's cost is the only difference.

Run with ``--app-dir benchmarks`` and ``MLAPP_MODEL_DIR`` set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from mlapp.model import load
from mlapp.params import load_params
from mlapp.schema import FEATURES, feature_schema
from mlapp.serving import responses
from mlapp.serving.admission import Refused
from mlapp.serving.request import RequestParser

MODEL = load(Path(os.environ.get("MLAPP_MODEL_DIR", "models")))
MODEL.booster.set_param({"nthread": 1})
SCHEMA = feature_schema()
PARAMS = load_params(os.environ.get("MLAPP_PARAMS", "params.yaml"))
SERVING = PARAMS.serving
PARSER = RequestParser(
    FEATURES,
    MODEL.spec,
    SERVING.max_rows,
    SERVING.max_error_details,
    id_column=PARAMS.data.id_column,
    time_column=PARAMS.data.time_column,
)
app = FastAPI()
same_app = FastAPI()


class Records(BaseModel):
    records: list[dict[str, Any]]


@app.post("/predict")
def predict(request: Records) -> list[dict[str, Any]]:
    frame = pd.DataFrame.from_records(request.records)
    try:
        frame = SCHEMA.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as exc:
        raise HTTPException(status_code=400, detail=str(exc)[:2000]) from exc
    proba = MODEL.predict_proba(frame)
    labels = proba >= MODEL.spec.cutoff
    return [{"probability": float(p), "label": int(y)} for p, y in zip(proba, labels, strict=True)]


@same_app.post("/predict")
async def predict_same(request: Request) -> Response:
    body = await request.body()
    try:
        _, matrix = PARSER.parse(body)
    except Refused as refused:
        return Response(
            responses.error(refused.message, refused.detail), refused.status, media_type="application/json"
        )
    proba = MODEL.booster.inplace_predict(matrix).astype(np.float64)
    return Response(responses.predictions(proba, proba >= MODEL.spec.cutoff), media_type="application/json")
