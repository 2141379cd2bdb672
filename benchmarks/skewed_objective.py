"""train.regression_objective on a positive, skewed label: squared and absolute error vs the
log-link losses tweedie and gamma.

    nice -n 10 uv run python benchmarks/skewed_objective.py [--rows 10000] [--seeds 1 2 3 4 5]
        [--out benchmarks/results/skewed_objective.json]

Each seed draws the bundled sample's features (``mlapp.sample_data.generate``) and a lognormal
label, a price or claim amount: log(label) is a known function of charges, tenure, contract and
tickets (median about 2e5) plus normal noise of sd 1.2, so the labels run from about 1e2 to
above 1e8 and a few hundred of them hold most of the total. Every loss is fitted by train's own
``train`` (the shipped ``train:`` settings, early stopping on each loss's own metric) on the same
rows, in an order that rotates with the seed, and judged on the same hold-out rows (a fifth):
MAE and R^2 on the label's scale, RMSLE (the error of log(1 + prediction), what a relative error
means), and MAE against the true mean exp(mu + sd^2 / 2), what a prediction should be. The JSON
holds every fit and, per loss, the median and range over seeds.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import pandas as pd

from mlapp.params import TrainParams
from mlapp.sample_data import generate
from objective_fits import LABEL, arguments, every_loss, write

LOSSES = ("squarederror", "absoluteerror", "tweedie", "gamma")
NOISE_SD = 1.2  # of log(label): a few labels 10-40 times the typical one
MEASURES = ("mae", "r2", "rmsle", "mae_vs_mean")


def log_signal(frame: pd.DataFrame) -> np.ndarray:
    """mu = E[log(label)] of each row: a non-linear function of four features."""
    contract = frame["contract"].map({"month-to-month": 0.6, "one-year": 0.0, "two-year": -0.5})
    return np.asarray(
        10
        + 0.02 * frame["monthly_charges"]
        + 0.3 * np.log1p(frame["tenure_months"])
        + contract
        + 0.25 * np.minimum(frame["support_tickets_90d"], 4),
        dtype=np.float64,
    )


def judged(predicted: np.ndarray, observed: np.ndarray, mean: np.ndarray) -> dict[str, float]:
    residual = np.sum((predicted - observed) ** 2)
    log_error = np.log1p(np.maximum(predicted, 0)) - np.log1p(observed)
    return {
        "mae": float(np.mean(np.abs(predicted - observed))),
        "r2": float(1 - residual / np.sum((observed - observed.mean()) ** 2)),
        "rmsle": float(np.sqrt(np.mean(log_error**2))),
        "mae_vs_mean": float(np.mean(np.abs(predicted - mean))),
    }


def one_seed(seed: int, rows: int, base: TrainParams, examples: int) -> list[dict[str, Any]]:
    """Every loss fitted on one seed's rows. ``examples``: validate.max_failure_examples, as train's."""
    rng = np.random.default_rng(seed)
    frame = generate(rows, seed)
    mu = log_signal(frame)
    frame[LABEL] = np.exp(mu + rng.normal(0, NOISE_SD, rows))
    cut = int(rows * 0.8)
    fit, test = frame.iloc[:cut], frame.iloc[cut:]
    mean = np.exp(mu[cut:] + NOISE_SD**2 / 2)
    losses = {loss: {"regression_objective": loss} for loss in LOSSES}
    return [
        {
            "seed": seed,
            "loss": loss,
            **judged(predicted, test[LABEL].to_numpy(), mean),
            "min_prediction": float(predicted.min()),
            **cost,
        }
        for loss, predicted, cost in every_loss(losses, seed, fit, test, base, examples)
    ]


def summary(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """Per loss: median and range over seeds of each measure."""
    out: dict[str, Any] = {}
    for loss in LOSSES:
        rows = [f for f in fits if f["loss"] == loss]
        out[loss] = {m: _spread([f[m] for f in rows]) for m in (*MEASURES, "trees")}
        out[loss]["seeds"] = len(rows)
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": float(f"{statistics.median(values):.6g}"),
        "min": float(f"{min(values):.6g}"),
        "max": float(f"{max(values):.6g}"),
    }


def main() -> None:
    args, base, examples = arguments(__doc__, "skewed_objective")
    fits = [fit for seed in args.seeds for fit in one_seed(seed, args.rows, base, examples)]
    power = base.tweedie_variance_power
    settings = {"noise_sd_of_log_label": NOISE_SD, "tweedie_variance_power_params_yaml": power}
    result = write(args, settings, summary(fits), fits)
    for loss, cell in result["summary"].items():
        print(f"{loss:14}" + "  ".join(
            f"{m} {cell[m]['median']:.4g} [{cell[m]['min']:.4g}, {cell[m]['max']:.4g}]" for m in MEASURES
        ) + f"  trees {cell['trees']['median']:g}")  # fmt: skip


if __name__ == "__main__":
    main()
