"""The systems benchmarks/serving.py loads, one server at a time: our BentoML service, FastAPI
baselines (benchmarks/serving_fastapi.py) and ``mlflow models serve``, each with the same model.

``Bench`` holds what every run shares (the model, the rows sent, the params files of one and two
workers, the servers' environment) and says, per system, how it is started, where it is ready,
what it is sent and whether its answer is the model's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml

from bench_http import REPO
from mlapp.model import load
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV, PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from params_files import settings

TOLERANCE = 1e-6
SYSTEMS = ("bentoml", "fastapi-same", "fastapi-pandera", "mlflow")


def unseen_rows() -> pd.DataFrame:
    """The rows every system is sent: generated, unseen in training, with the sample's nulls."""
    return generate(1_000, 20261124)[list(FEATURES)]


def save_mlflow_model(model_dir: Path, dest: Path, example: pd.DataFrame) -> Path:
    """The pipeline's MLflow model (models-from-code pyfunc + native files), saved locally."""
    import mlflow

    from mlapp.model_code import code_path
    from mlapp.tracking import PYFUNC_FILE

    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    with code_path(PYFUNC_FILE) as code:
        mlflow.pyfunc.save_model(
            path=str(dest),
            python_model=str(PYFUNC_FILE),
            artifacts={"model_dir": str(model_dir)},
            code_paths=[code],
            pip_requirements=["mlflow", "xgboost-cpu", "pandas"],
            input_example=example,
        )
    return dest


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, out: Path) -> None:
        self.quick = args.quick
        self.load_s, self.warm_s = (3, 1) if args.quick else (10, 2)
        self.work, self.logs = work, REPO / ".bench" / "serving-logs"
        params = settings(REPO / "params.yaml")
        model_dir = (args.model_dir or REPO / params["train"]["model_dir"]).resolve()
        self.model = load(model_dir)
        self.frame = unseen_rows()
        self.records = json.loads(self.frame.to_json(orient="records"))
        self.expected = self.model.predict_proba(self.frame.iloc[:100])
        self.params_files = {}
        for n in (1, 2):
            params["serving"]["workers"] = n
            (work / f"params-{n}.yaml").write_text(yaml.safe_dump(params))
            self.params_files[n] = work / f"params-{n}.yaml"
        self.env = {
            MODEL_DIR_ENV: str(model_dir),
            PARAMS_ENV: str(self.params_files[1]),
            # logged as in production, but not into the project's logs/ that monitoring reads
            PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        }
        self.mlflow_model = save_mlflow_model(
            model_dir, work / "mlflow-model", pd.DataFrame(self.records[:20])
        )

    def body(self, system: str, rows: int) -> str:
        key = "dataframe_records" if system == "mlflow" else "records"
        return json.dumps({key: self.records[:rows]})

    def server(self, system: str, workers: int = 1) -> tuple[list[str], str, str, dict[str, str]]:
        """argv, readiness URL path, predict path, extra environment."""
        port = free_port()
        py = sys.executable
        if system == "bentoml":
            argv = [
                py,
                "-m",
                "mlapp",
                "--params",
                str(self.params_files[workers]),
                "serving",
                "serve",
                "--port",
                str(port),
            ]
            return argv, f"http://127.0.0.1:{port}", "/readyz", {PARAMS_ENV: str(self.params_files[workers])}
        if system == "mlflow":
            argv = [
                py,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                str(self.mlflow_model),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "1",
            ]
            return argv, f"http://127.0.0.1:{port}", "/ping", {}
        app = "serving_fastapi:same_app" if system == "fastapi-same" else "serving_fastapi:app"
        argv = [
            py,
            "-m",
            "uvicorn",
            app,
            "--app-dir",
            str(REPO / "benchmarks"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ]
        return argv, f"http://127.0.0.1:{port}", "/openapi.json", {}

    def predict_path(self, system: str) -> str:
        return "/invocations" if system == "mlflow" else "/predict"

    def check(self, system: str, url: str) -> None:
        answer = httpx.post(
            url + self.predict_path(system),
            content=self.body(system, 100),
            headers={"content-type": "application/json"},
            timeout=60,
        ).json()
        got = np.asarray(
            [p["probability"] for p in (answer["predictions"] if system == "mlflow" else answer)]
        )
        worst = float(np.max(np.abs(got - self.expected)))
        if len(got) != len(self.expected) or worst > TOLERANCE:
            raise RuntimeError(f"{system} does not serve the same model: max difference {worst}")
