"""`mlapp monitor run` watching rmsle: a labeled batch where it has no value (a label at most -1)
is one error line naming the rows, not a KeyError; where it has one, it is judged as any metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlapp import model as model_io
from mlapp.cli import EXIT_ERROR, main
from mlapp.params import load_params
from mlapp.stages import evaluate
from mlapp.stages.train import train
from tests.conftest import REPO
from tests.pipeline.task_tables import table
from tests.pipeline.test_tasks import EXAMPLES, FAST


def _project(root: Path, train_shift: float = 0.0) -> None:
    """A regression project watching rmsle: a model of positive prices, its split and metrics
    (``train_shift`` moves the training labels: far enough down, the model predicts -1 or below)."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["task"] = "regression"
    raw["gate"].update(primary_metric="rmse", min_primary=1e6)
    raw["tune"]["metric"] = "rmse"
    raw["monitor"]["decay_tolerance"] = {"rmsle": "5%"}
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    frame = table("regression", 1_200, seed=5)
    frame["churned"] = frame["churned"].abs() + 1  # a price: above 0
    frame.loc[:899, "churned"] += train_shift
    for name, part in (("train", frame.iloc[:900]), ("test", frame.iloc[900:])):
        (root / raw["split"][name]).parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(root / raw["split"][name])
    model_io.save(*train(frame.iloc[:900], "churned", FAST, "regression", examples=EXAMPLES), root / "models")
    params = load_params(root / "params.yaml")
    paths = {"test_path": root / raw["split"]["test"], "metrics_path": root / raw["evaluate"]["metrics"]}
    evaluate.run(params, model_dir=root / "models", plots_dir=None, log_to_mlflow=False, **paths)


def test_a_batch_without_an_rmsle_is_one_line_naming_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    assert "rmsle" in json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    batch = table("regression", 400, seed=9)
    batch["churned"] = batch["churned"].abs() + 1
    batch.to_csv(tmp_path / "fine.csv", index=False)
    monkeypatch.setattr("sys.argv", ["mlapp", "monitor", "run", "--source", "fine.csv", "--exit-zero"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "reports" / "monitor" / "monitor.json").read_text())
    (watched,) = report["decay"]["metrics"]
    assert watched["metric"] == "rmsle" and np.isfinite(watched["batch"])

    batch.loc[[3, 11], "churned"] = -4.0  # refunds written as negative prices
    batch.to_csv(tmp_path / "refunds.csv", index=False)
    monkeypatch.setattr("sys.argv", ["mlapp", "monitor", "run", "--source", "refunds.csv"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == EXIT_ERROR
    assert capsys.readouterr().err == (
        "error: monitor.decay_tolerance watches rmsle, but rmsle is undefined: log(1 + value) needs every "
        "value above -1; 2 label(s) at most -1 at rows 3, 11 (e.g. -4) (0-based, of the labeled rows)\n"
    )


def test_a_metrics_json_without_rmsle_names_the_models_predictions_not_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Evaluate left rmsle out (the model predicts -1 or below on the test split): running the
    pipeline again would leave it out again, so the monitor says why and what to watch instead."""
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, train_shift=-1_000.0)
    assert "rmsle" not in json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    batch = table("regression", 400, seed=9)
    batch["churned"] = batch["churned"].abs() + 1
    batch.to_csv(tmp_path / "fine.csv", index=False)
    monkeypatch.setattr("sys.argv", ["mlapp", "monitor", "run", "--source", "fine.csv"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: metrics/metrics.json has no rmsle, which monitor.decay_tolerance watches: ")
    assert "prediction(s) at most -1 at rows 0, 1, 2" in err and "(0-based rows of the test split)" in err
    assert "watch rmse or mae in monitor.decay_tolerance instead" in err and "run the pipeline" not in err
    assert err.count("\n") == 1
