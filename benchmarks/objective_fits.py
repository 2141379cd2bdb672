"""What benchmarks/robust_objective.py and skewed_objective.py share: each loss fitted by train's
own ``train`` (the shipped ``train:`` settings, early stopping on the loss's own metric) on the same
rows, in an order that rotates with the seed, timed, and its predictions of the same test rows."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlapp.model import Model
from mlapp.params import TrainParams
from mlapp.stages.train import train

LABEL = "churned"  # the schema's label column: the features are the sample's own


def every_loss(
    losses: Mapping[str, Mapping[str, Any]],
    seed: int,
    fit: pd.DataFrame,
    test: pd.DataFrame,
    base: TrainParams,
    examples: int,
) -> Iterator[tuple[str, np.ndarray, dict[str, Any]]]:
    """(name, predictions of ``test``, trees and fit seconds) of each loss (name -> train settings).
    ``examples``: validate.max_failure_examples, as train's."""
    names = list(losses)
    turn = seed % len(names)
    for name in names[turn:] + names[:turn]:  # alternate which runs first
        params = base.model_copy(update={**losses[name], "seed": seed})
        started = time.perf_counter()
        booster, spec = train(fit, LABEL, params, "regression", examples=examples)
        seconds = time.perf_counter() - started
        cost = {"trees": spec.best_iteration + 1, "fit_seconds": round(seconds, 3)}
        yield name, Model(booster, spec, "").scores(test), cost
