"""What ``/predict`` answers: the one place that shapes a response body.

A success is one object per record, in request order, shaped by the model's task:

- binary: ``{"probability": P(positive class), "label": class}`` (the label at the model's threshold);
- multiclass: ``{"label": most probable class, "probabilities": {class: p, ...}}``;
- regression: ``{"prediction": value}``.

Scores are float64, as ``Model.scores`` gives them. A class is shown as in the label column:
integer names as numbers (0/1 stays 0/1), others as text. Serialised by orjson: shortest
round-trip floats, ~4x cheaper than ``json.dumps`` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from typing_extensions import TypedDict

from mlapp.model import ModelSpec


class Prediction(TypedDict):
    """binary: positive-class probability and the label at the model's threshold."""

    probability: float
    label: int | str


class ClassPrediction(TypedDict):
    """multiclass: the most probable class and every class's probability."""

    label: int | str
    probabilities: dict[str, float]


class ValuePrediction(TypedDict):
    """regression: the predicted value."""

    prediction: float


RESPONSE_TYPES: dict[str, type] = {
    "binary": Prediction,
    "multiclass": ClassPrediction,
    "regression": ValuePrediction,
}


def example(spec: ModelSpec) -> dict[str, Any]:
    """One answer of this model for ``/docs.json``: made by ``answer``, so it names the model's
    own classes (text or numbers) in exactly the shape ``/predict`` gives."""
    if spec.task == "regression":
        scores, decided = np.array([312500.0]), np.zeros(1, np.int64)
    else:
        if spec.task == "binary":
            scores = np.array([0.31])
        else:  # the last class most probable, the others sharing the rest
            scores = np.full((1, len(spec.classes)), 0.1 / max(len(spec.classes) - 1, 1))
            scores[0, -1] = 0.9
        decided = spec.decide(scores)
    answers: list[dict[str, Any]] = orjson.loads(answer(spec, scores, decided))
    return answers[0]


def predictions(proba: np.ndarray, positive: np.ndarray) -> bytes:
    """binary with 0/1 classes (the fast path the sample model takes)."""
    labels = positive.astype(np.int64).tolist()
    return orjson.dumps([{"probability": p, "label": y} for p, y in zip(proba.tolist(), labels, strict=True)])


def answer(spec: ModelSpec, scores: np.ndarray, decided: np.ndarray) -> bytes:
    """The task's response for ``scores`` (``Model.scores``) and ``decided`` (class indices)."""
    if spec.task == "regression":
        return orjson.dumps([{"prediction": v} for v in scores.tolist()])
    values = spec.class_values()
    if spec.task == "binary":
        if values == [0, 1]:
            return predictions(scores, decided.astype(bool))
        labels = [values[i] for i in decided.tolist()]
        return orjson.dumps(
            [{"probability": p, "label": y} for p, y in zip(scores.tolist(), labels, strict=True)]
        )
    return orjson.dumps(
        [
            {"label": values[i], "probabilities": dict(zip(spec.classes, row, strict=True))}
            for i, row in zip(decided.tolist(), scores.tolist(), strict=True)
        ]
    )


def error(message: str, detail: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps({"error": message} if detail is None else {"error": message, "detail": detail})
