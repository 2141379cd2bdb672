"""A multiclass or regression prediction log's served scores are compared with this model's, as a
binary log's probability is: the largest difference (a probability's, or the prediction's in the
label's unit), null when another model served some rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp import model as model_io
from mlapp.monitor import render, run, schema
from mlapp.monitor.served import SCORE_FIELDS, served_scores
from mlapp.params import Params, load_params
from mlapp.serving import predlog, predlog_file
from mlapp.stages.train import train
from tests.conftest import REPO
from tests.monitor.helpers import fresh, write_log
from tests.pipeline.task_tables import params_for, table
from tests.pipeline.test_tasks import EXAMPLES, FAST

ROWS = 300  # chunk_rows 120: three chunks


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Params, Path]]:
    """Per task: params whose reference tables are a small table's, and its trained model's dir."""
    out = {}
    for task in ("multiclass", "regression"):
        root = tmp_path_factory.mktemp(task)
        frame = table(task, 1_200, seed=5)
        frame.iloc[:900].to_parquet(root / "train.parquet")
        frame.iloc[900:].to_parquet(root / "test.parquet")
        booster, spec = train(frame.iloc[:900], "churned", FAST, task, examples=EXAMPLES)
        model_io.save(booster, spec, root / "model")
        params = params_for(load_params(REPO / "params.yaml"), task)
        split = params.split.model_copy(
            update={"train": root / "train.parquet", "test": root / "test.parquet"}
        )
        evaluate = params.evaluate.model_copy(
            update={"metrics": root / "metrics.json"}
        )  # none: no labels here
        monitor = params.monitor.model_copy(update={"chunk_rows": 120})
        out[task] = (
            params.model_copy(update={"split": split, "evaluate": evaluate, "monitor": monitor}),
            root / "model",
        )
    return out


def _log(path: Path, model: model_io.Model, version: str, changed: dict[int, Any]) -> Path:
    """The log the service's writer (``predlog.PredictionLog``) writes for ``model``'s answers
    on a fresh batch, as ``version``; ``changed``: some rows' served value written instead."""
    frame = fresh(311, ROWS)
    features = write_log(frame, path.with_suffix(".features"), model_version=version)
    records = [json.loads(line)["features"] for line in features.read_text().splitlines()]
    log = predlog.PredictionLog(predlog_file.JsonlFile(path), 1.0, version, 10_000, spec=model.spec)
    for start in range(0, ROWS, 70):  # the service's batches
        rows = slice(start, start + 70)
        log.offer(records[rows], model.scores(frame.iloc[rows]), np.zeros(len(records[rows]), dtype=np.int64))
    log.close()
    field = SCORE_FIELDS[model.task]
    served = [json.loads(line) for line in path.read_text().splitlines()]
    for row, value in changed.items():
        served[row][field] = value
    path.write_text("".join(json.dumps(record) + "\n" for record in served))
    return path


def _served(
    projects: dict[str, tuple[Params, Path]],
    task: str,
    tmp_path: Path,
    changed: dict[int, Any],
    version: str = "",
) -> tuple[dict[str, Any], model_io.Model]:
    params, model_dir = projects[task]
    model = model_io.load(model_dir)
    source = _log(tmp_path / "log.jsonl", model, version or model.version, changed)
    report = run.checked(str(source), params, model_dir)
    schema.parse(report)  # as written
    assert report["served"]["model_versions"] == {version or model.version: ROWS}
    return report, model


@pytest.mark.parametrize(("task", "field"), [("multiclass", "probabilities"), ("regression", "prediction")])
def test_a_log_the_model_itself_wrote_shows_no_skew(
    task: str, field: str, projects: dict[str, tuple[Params, Path]], tmp_path: Path
) -> None:
    report, _ = _served(projects, task, tmp_path, {5: None})  # a row without a score: not compared
    served = report["served"]
    assert served["max_score_difference"] == pytest.approx(0, abs=1e-6)
    assert served["compared"] == field
    text = render.markdown(report)
    unit = "class probabilities (any class)" if task == "multiclass" else "predictions (in the label's unit)"
    assert f"Largest difference between logged and recomputed {unit}: 0.00e+00" in text


def test_a_multiclass_log_with_altered_probabilities_shows_the_largest_difference(
    projects: dict[str, tuple[Params, Path]], tmp_path: Path
) -> None:
    model = model_io.load(projects["multiclass"][1])
    scores = model.scores(fresh(311, ROWS))
    bronze, gold, silver = (float(p) for p in scores[250])  # CLASSES order: row 250 in the third chunk
    moved = min(0.03, silver)  # P moved from silver to gold: still a vector summing to 1
    altered = {"silver": silver - moved, "gold": gold + moved, "bronze": bronze}  # a writer's order
    small = {
        "bronze": float(scores[7][0]) - 0.001,
        "gold": float(scores[7][1]) + 0.001,
        "silver": float(scores[7][2]),
    }
    report, _ = _served(projects, "multiclass", tmp_path, {250: altered, 7: small})
    assert moved > 0.01
    assert report["served"]["max_score_difference"] == pytest.approx(moved, abs=1e-6)


def test_a_regression_log_with_an_altered_prediction_shows_the_difference_in_the_labels_unit(
    projects: dict[str, tuple[Params, Path]], tmp_path: Path
) -> None:
    model = model_io.load(projects["regression"][1])
    scores = model.scores(fresh(311, ROWS))
    report, _ = _served(
        projects, "regression", tmp_path, {130: float(scores[130]) - 2.5, 20: float(scores[20]) + 0.75}
    )
    assert report["served"]["max_score_difference"] == pytest.approx(2.5, abs=1e-4)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_log_another_model_version_wrote_is_not_compared(
    task: str, projects: dict[str, tuple[Params, Path]], tmp_path: Path
) -> None:
    report, _ = _served(projects, task, tmp_path, {}, version="another")
    assert report["served"]["max_score_difference"] is None
    assert "Largest difference" not in render.markdown(report)


def test_a_multiclass_log_read_whole_orders_its_probabilities_as_the_models_classes() -> None:
    """The served vector is the model's class order whatever order the writer named them in."""
    values = pd.Series(
        [{"silver": 0.5, "bronze": "0.2", "gold": 0.3}, None, {"gold": 0.1, "bronze": 0.3, "silver": 0.6}],
        index=pd.RangeIndex(40, 43),
        dtype=object,
    )
    scores, found = served_scores(values, "multiclass", ["bronze", "gold", "silver"], ".", 5)
    assert found is None
    assert list(scores.index) == [40, 41, 42]
    np.testing.assert_array_equal(
        scores.to_numpy(), [[0.2, 0.3, 0.5], [np.nan, np.nan, np.nan], [0.3, 0.1, 0.6]]
    )
