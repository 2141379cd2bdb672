"""The model artifact: an XGBoost booster in its native format plus a JSON spec.

Nothing here unpickles: the booster is XGBoost's own UBJSON, and everything needed
to turn a table into model input (feature order, category levels, threshold) is
plain JSON. Training, evaluation, the report and the service all use this module.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlapp.tables import read_json, write_json

MODEL_FILE = "model.ubj"
SPEC_FILE = "model_spec.json"


@dataclass(frozen=True)
class ModelSpec:
    features: list[str]
    categories: dict[str, list[str]]
    label: str
    threshold: float
    best_iteration: int

    def to_matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select and type the features exactly as in training (fixed category levels)."""
        matrix = frame.loc[:, self.features].copy()
        for name, levels in self.categories.items():
            matrix[name] = pd.Categorical(matrix[name], categories=levels)
        for name in matrix.columns:
            if matrix[name].dtype == bool:
                matrix[name] = matrix[name].astype(np.int8)
        return matrix


@dataclass(frozen=True)
class Model:
    booster: xgb.Booster
    spec: ModelSpec
    sha256: str

    @property
    def version(self) -> str:
        """Content address of the model file: equal bytes, equal version."""
        return self.sha256[:12]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        data = xgb.DMatrix(self.spec.to_matrix(frame), enable_categorical=True)
        return np.asarray(self.booster.predict(data), dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame) >= self.spec.threshold).astype(np.int64)

    @cached_property
    def size_bytes(self) -> int:
        return len(self.booster.save_raw("ubj"))


def save(booster: xgb.Booster, spec: ModelSpec, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILE))
    write_json(asdict(spec), model_dir / SPEC_FILE)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(model_dir: Path) -> Model:
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"no model at {model_path}: run the pipeline first (`make run`)")
    booster = xgb.Booster()
    booster.load_model(str(model_path))
    spec: dict[str, Any] = read_json(model_dir / SPEC_FILE)
    return Model(booster, ModelSpec(**spec), file_sha256(model_path))
