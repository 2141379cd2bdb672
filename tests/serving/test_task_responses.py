"""The service's answer, prediction log and smoke comparison for each task (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel

from mlapp.model import ModelSpec
from mlapp.serving import openapi, predlog, predlog_file, responses, smoke


def spec(task: str, classes: list[str]) -> ModelSpec:
    threshold = 0.4 if task == "binary" else None
    return ModelSpec(["x"], {}, "y", threshold, 3, task, classes)


MULTI = spec("multiclass", ["adelie", "chinstrap", "gentoo"])
REGRESSION = spec("regression", [])
WORDS = spec("binary", ["no", "yes"])
PROBA = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])


def test_each_task_answers_in_its_own_shape() -> None:
    multi = orjson.loads(responses.answer(MULTI, PROBA, MULTI.decide(PROBA)))
    assert multi == [
        {"label": "gentoo", "probabilities": {"adelie": 0.1, "chinstrap": 0.2, "gentoo": 0.7}},
        {"label": "adelie", "probabilities": {"adelie": 0.5, "chinstrap": 0.3, "gentoo": 0.2}},
    ]
    values = np.array([123456.5, -2.25])
    assert orjson.loads(responses.answer(REGRESSION, values, np.zeros(2, np.int64))) == [
        {"prediction": 123456.5},
        {"prediction": -2.25},
    ]
    scores = np.array([0.39, 0.41])
    assert orjson.loads(responses.answer(WORDS, scores, WORDS.decide(scores))) == [
        {"probability": 0.39, "label": "no"},
        {"probability": 0.41, "label": "yes"},
    ]
    churn = spec("binary", ["0", "1"])
    assert orjson.loads(responses.answer(churn, scores, churn.decide(scores)))[1]["label"] == 1


def test_prediction_log_lines_carry_the_task_fields(tmp_path: Path) -> None:
    for task_spec, scores, decided, fields in [
        (MULTI, PROBA, MULTI.decide(PROBA), {"label", "probabilities"}),
        (REGRESSION, np.array([10.5, 11.0]), np.zeros(2, np.int64), {"prediction"}),
        (WORDS, np.array([0.2, 0.9]), np.array([0, 1]), {"probability", "label"}),
    ]:
        path = tmp_path / f"{task_spec.task}-{len(task_spec.classes)}.jsonl"
        log = predlog.PredictionLog(predlog_file.JsonlFile(path), 1.0, "v", 100, spec=task_spec)
        log.offer([{"x": 1}, {"x": 2}], scores, decided)
        log.close()
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(lines) == 2
        assert set(lines[0]) == {"id", "ts", "features", "model_version", *fields}
        expected = json.loads(responses.answer(task_spec, scores, decided))
        assert [{k: line[k] for k in fields} for line in lines] == expected


def test_smoke_compares_fields_of_every_task() -> None:
    want = [{"label": "gentoo", "probabilities": {"adelie": 0.1, "gentoo": 0.9}}]
    assert smoke.compare(want, want) == []
    off = [{"label": "adelie", "probabilities": {"adelie": 0.1, "gentoo": 0.9000001}}]
    assert smoke.compare(off, want) == ["record 0: label 'adelie' != expected 'gentoo'"]
    assert smoke.compare([{"prediction": 300000.1}], [{"prediction": 300000.0}]) == []  # relative
    assert smoke.compare([{"prediction": 300010.0}], [{"prediction": 300000.0}])
    assert smoke.compare([{"probability": 0.5}], [{"prediction": 0.5}]) == [
        "record 0: fields ['probability'] != expected ['prediction']"
    ]


def test_docs_json_example_answer_speaks_the_models_classes() -> None:
    class Meta(BaseModel):
        version: str

    def example(task_spec: ModelSpec) -> dict[str, Any]:
        document = openapi.spec({}, 10, Meta, task_spec)
        answer = document["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
        return answer["example"][0]

    wine = spec("multiclass", ["barbera", "barolo", "grignolino"])
    assert example(wine)["label"] in wine.classes
    assert set(example(wine)["probabilities"]) == set(wine.classes)
    assert example(WORDS)["label"] in ("no", "yes")
    assert example(spec("binary", ["0", "1"]))["label"] in (0, 1)
    assert set(example(REGRESSION)) == {"prediction"}
