"""Two-tree models for the tests that write model folders (test_interrupted_writes,
test_killed_writes). A module of its own, light to import: test_killed_writes' child processes
import it, and importing a test module there imported the whole suite's conftest too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

from mlapp import model as model_io
from mlapp.stages.train import base_spec


def tiny_booster(seed: int) -> xgb.Booster:
    """A two-tree booster over the schema's features (values need not mean anything)."""
    spec = base_spec("churned")
    rng = np.random.default_rng(seed)
    matrix = xgb.DMatrix(rng.random((40, len(spec.features))), label=rng.integers(0, 2, 40))
    return xgb.train({"objective": "binary:logistic", "nthread": 1}, matrix, num_boost_round=2)


def saved(booster: xgb.Booster, model_dir: Path) -> bytes:
    model_io.save(booster, base_spec("churned"), model_dir)
    return (model_dir / model_io.MODEL_FILE).read_bytes()
