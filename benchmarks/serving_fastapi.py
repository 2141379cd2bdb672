"""The framework floor for benchmarks/serving.py: FastAPI + uvicorn, as a team would write it.

One request, one call: JSON records -> DataFrame -> the training schema's pandera
validation (``feature_schema()``, coerce on) -> ``Model.predict_proba`` (the pipeline's
pandas path). No batching. Run with
``uvicorn serving_fastapi:app --app-dir benchmarks`` and ``MLAPP_MODEL_DIR`` set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors as pa_errors
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from mlapp.model import load
from mlapp.schema import feature_schema

MODEL = load(Path(os.environ.get("MLAPP_MODEL_DIR", "models")))
SCHEMA = feature_schema()
app = FastAPI()


class Request(BaseModel):
    records: list[dict[str, Any]]


@app.post("/predict")
def predict(request: Request) -> list[dict[str, Any]]:
    frame = pd.DataFrame.from_records(request.records)
    try:
        frame = SCHEMA.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as exc:
        raise HTTPException(status_code=400, detail=str(exc)[:2000]) from exc
    proba = MODEL.predict_proba(frame)
    labels = proba >= MODEL.spec.threshold
    return [{"probability": float(p), "label": int(y)} for p, y in zip(proba, labels, strict=True)]
