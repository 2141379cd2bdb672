"""``/docs.json``: BentoML's OpenAPI document plus ``/predict`` as the service really serves it.

``/predict`` is a mounted endpoint (``endpoint.py``), so BentoML does not know it: its
request body (the pydantic ``Input`` model, with every schema rule), its answer and every
status it can give are described here, so clients and schemathesis check against what
the service does.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel, TypeAdapter

from mlapp.model import ModelSpec
from mlapp.schema import FEATURES
from mlapp.serving.records import record_type
from mlapp.serving.request import input_type
from mlapp.serving.responses import RESPONSE_TYPES, example
from mlapp.serving.settings import AUTO_MIN_ROW_BYTES

REF = "#/components/schemas/{model}"
ISSUE = {
    "type": "object",
    "required": ["type", "loc", "msg"],
    "properties": {
        "type": {"type": "string", "description": "the rule, e.g. less_than_equal, literal_error, missing"},
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "array", "items": ISSUE}},
}
REFUSALS = {
    "400": "invalid JSON, a record that breaks the training schema (`detail` names field and rule), "
    "or a malformed HTTP request",
    "401": "bearer token missing or wrong (when tokens are configured)",
    "408": "the headers or the body did not arrive within serving.header_timeout_s / body_timeout_s",
    "413": "body over serving.max_rows * serving.max_row_bytes (auto: the longest row the served "
    f"schema allows, at least {AUTO_MIN_ROW_BYTES} bytes); /metadata limits.max_body_bytes: the cap",
    "415": "not exactly one Content-Type application/json (charset utf-8 only), a Content-Encoding, "
    "or a Transfer-Encoding but chunked",
    "429": "more requests in flight in this worker than its share of serving.max_concurrency (divided "
    "among the workers), or a body that would take its bodies in flight past "
    "serving.max_body_bytes_in_flight (Retry-After: retry then)",
    "431": "request line and headers over serving.max_header_bytes",
}


SUMMARY = {
    "binary": "Probability and label for each record",
    "multiclass": "Most probable class and every class's probability for each record",
    "regression": "Predicted value for each record",
}


@functools.cache
def _predict_path(max_rows: int, task: str = "binary") -> tuple[dict[str, Any], dict[str, Any]]:
    schemas: dict[str, Any] = {}
    for name, adapter, mode in [
        ("Input", TypeAdapter(input_type(record_type(FEATURES), max_rows)), "validation"),
        ("Prediction", TypeAdapter(RESPONSE_TYPES[task]), "serialization"),
    ]:
        schema = adapter.json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    schemas["Error"] = ERROR
    body_schema = {"$ref": REF.format(model="Input")}
    answers: dict[str, Any] = {
        "200": {
            "description": "one prediction per record, in request order",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": REF.format(model="Prediction")}},
                }
            },
        }
    }
    for status, why in REFUSALS.items():
        answers[status] = {
            "description": why,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
    path = {
        "post": {
            "summary": SUMMARY[task],
            "operationId": "predict",
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
            "responses": answers,
        }
    }
    return path, schemas


def _metadata_path(metadata: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = metadata.model_json_schema(ref_template=REF)
    schemas = {**schema.pop("$defs", {}), "Metadata": schema}
    answer = {
        "200": {
            "description": "model version, lineage, test metrics, threshold, limits",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Metadata")}}},
        },
        "401": {"description": REFUSALS["401"]},
    }
    operation = {"summary": "The served model", "responses": answer}
    return {
        "get": {**operation, "operationId": "metadata"},
        "post": {**operation, "operationId": "metadata_post"},
    }, schemas


def spec(
    bentoml_spec: dict[str, Any], max_rows: int, metadata: type[BaseModel], model: ModelSpec
) -> dict[str, Any]:
    document = copy.deepcopy(bentoml_spec)
    path, schemas = _predict_path(max_rows, model.task)
    document.setdefault("components", {}).setdefault("schemas", {}).update(copy.deepcopy(schemas))
    document.setdefault("paths", {})["/predict"] = path = copy.deepcopy(path)
    path["post"]["responses"]["200"]["content"]["application/json"]["example"] = [example(model)]
    meta_path, meta_schemas = _metadata_path(metadata)
    document["components"]["schemas"].update(meta_schemas)
    document["paths"]["/metadata"] = meta_path
    return document
