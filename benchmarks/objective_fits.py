"""What benchmarks/robust_objective.py and skewed_objective.py share: each loss fitted by train's
own ``train`` (the shipped ``train:`` settings, early stopping on the loss's own metric) on the same
rows, in an order that rotates with the seed, timed, and its predictions of the same test rows."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp.model import Model
from mlapp.params import TrainParams, load_params
from mlapp.stages.train import train
from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
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


def arguments(doc: str | None, name: str) -> tuple[argparse.Namespace, TrainParams, int]:
    """The command line (--rows, --seeds, --out: benchmarks/results/<name>.json), the shipped
    ``train:`` settings and validate.max_failure_examples."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--out", type=Path, default=REPO / f"benchmarks/results/{name}.json")
    args = parser.parse_args()
    args.head = result_head(f"{name}.py")  # before the fits: the load they ran under
    params = load_params(REPO / "params.yaml")
    return args, params.train, params.validate_.max_failure_examples


def write(
    args: argparse.Namespace, settings: Mapping[str, Any], summary: Any, fits: list[Any]
) -> dict[str, Any]:
    """The result (the run's ``settings`` beside rows, seeds and the machine), written to ``--out``."""
    result = {
        **args.head,
        "rows": args.rows,
        "seeds": args.seeds,
        **settings,
        "summary": summary,
        "fits": fits,
    }
    write_result(result, args.out)
    return result
