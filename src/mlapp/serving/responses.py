"""What ``/predict`` answers: the one place that shapes a response body.

A success is one object per record, in request order: the positive-class probability
(float64, as ``Model.predict_proba`` gives it) and the label at the model's threshold.
Serialised by orjson: shortest round-trip floats, ~4x cheaper than ``json.dumps`` here.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import orjson
from typing_extensions import TypedDict


class Prediction(TypedDict):
    """One prediction: positive-class probability and the label at the model's threshold."""

    probability: float
    label: Literal[0, 1]


def predictions(proba: np.ndarray, positive: np.ndarray) -> bytes:
    labels = positive.astype(np.int64).tolist()
    return orjson.dumps([{"probability": p, "label": y} for p, y in zip(proba.tolist(), labels, strict=True)])


def error(message: str, detail: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps({"error": message} if detail is None else {"error": message, "detail": detail})
