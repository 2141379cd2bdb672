"""train.regression_objective on labels with outliers: squared error vs the robust losses.

    nice -n 10 uv run python benchmarks/robust_objective.py [--rows 10000] [--seeds 1 2 3 4 5]
        [--out benchmarks/results/robust_objective.json]

Each seed draws the bundled sample's features (``mlapp.sample_data.generate``) and a regression
label: a known signal of tenure, charges, contract and tickets (a few hundred in size) plus noise
of one of three kinds,

- ``gaussian``: normal noise, sd 40 (the control: what a robust loss costs on clean data);
- ``student_t``: Student's t noise with 1.5 degrees of freedom, scale 25 (heavy tails, no variance);
- ``unit_slip``: normal noise, and 5% of the labels multiplied by 100 (cents written as dollars).

Train and test rows are contaminated alike. Every loss is fitted by train's own ``train`` (the
shipped ``train:`` settings, early stopping on each loss's own metric) on the same rows, in an
order that rotates with the seed, and judged on the same test rows: MAE against the noise-free
signal (what a prediction should be) and against the observed labels. The JSON holds every fit
and, per noise and loss, the median and range over seeds and the ratio to squared error's MAE.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import pandas as pd

from mlapp.params import TrainParams
from mlapp.sample_data import generate
from objective_fits import LABEL, arguments, every_loss, write

LOSSES: dict[str, dict[str, Any]] = {
    "squarederror": {"regression_objective": "squarederror"},
    "pseudohubererror": {"regression_objective": "pseudohubererror"},  # params.yaml's huber_slope
    "pseudohubererror, huber_slope 40": {"regression_objective": "pseudohubererror", "huber_slope": 40.0},
    "absoluteerror": {"regression_objective": "absoluteerror"},
}
NOISES = ("gaussian", "student_t", "unit_slip")


def signal(frame: pd.DataFrame) -> np.ndarray:
    """The true value of each row: a non-linear function of four features, in the hundreds."""
    contract = frame["contract"].map({"month-to-month": 60.0, "one-year": 0.0, "two-year": -40.0})
    return np.asarray(
        150
        + 2.0 * frame["monthly_charges"]
        + 40 * np.log1p(frame["tenure_months"])
        + contract
        + 15 * np.minimum(frame["support_tickets_90d"], 4),
        dtype=np.float64,
    )


def noisy(truth: np.ndarray, noise: str, rng: np.random.Generator) -> np.ndarray:
    if noise == "student_t":
        return truth + 25 * rng.standard_t(1.5, truth.size)
    observed = truth + rng.normal(0, 40, truth.size)
    if noise == "unit_slip":
        observed[rng.random(truth.size) < 0.05] *= 100
    return observed


def one_seed(seed: int, rows: int, noise: str, base: TrainParams, examples: int) -> list[dict[str, Any]]:
    """Every loss fitted on one seed's rows. ``examples``: validate.max_failure_examples, as train's."""
    rng = np.random.default_rng(seed)
    frame = generate(rows, seed)
    truth = signal(frame)
    frame[LABEL] = noisy(truth, noise, rng)
    cut = int(rows * 0.8)
    fit, test, test_truth = frame.iloc[:cut], frame.iloc[cut:], truth[cut:]
    return [
        {
            "noise": noise,
            "seed": seed,
            "loss": name,
            "mae_vs_signal": float(np.mean(np.abs(predicted - test_truth))),
            "mae_vs_observed": float(np.mean(np.abs(predicted - test[LABEL].to_numpy()))),
            **cost,
        }
        for name, predicted, cost in every_loss(LOSSES, seed, fit, test, base, examples)
    ]


def summary(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """Per noise and loss: median and range over seeds, and the per-seed ratio to squared error."""
    out: dict[str, Any] = {}
    for noise in NOISES:
        squared = {f["seed"]: f for f in fits if f["noise"] == noise and f["loss"] == "squarederror"}
        out[noise] = {}
        for loss in LOSSES:
            rows = [f for f in fits if f["noise"] == noise and f["loss"] == loss]
            cell: dict[str, Any] = {"seeds": len(rows)}
            for measure in ("mae_vs_signal", "mae_vs_observed"):
                values = [f[measure] for f in rows]
                ratios = [f[measure] / squared[f["seed"]][measure] for f in rows]
                cell[measure] = _spread(values)
                cell[f"{measure}_ratio_to_squarederror"] = _spread(ratios)
            cell["trees"] = _spread([f["trees"] for f in rows])
            out[noise][loss] = cell
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def main() -> None:
    args, base, examples = arguments(__doc__, "robust_objective")
    fits = [
        fit
        for noise in NOISES
        for seed in args.seeds
        for fit in one_seed(seed, args.rows, noise, base, examples)
    ]
    result = write(args, {"huber_slope_params_yaml": base.huber_slope}, summary(fits), fits)
    for noise, cells in result["summary"].items():
        for loss, cell in cells.items():
            ratio = cell["mae_vs_signal_ratio_to_squarederror"]
            print(
                f"{noise:10} {loss:34} MAE vs signal {cell['mae_vs_signal']['median']:>9.2f} "
                f"[{cell['mae_vs_signal']['min']:.2f}, {cell['mae_vs_signal']['max']:.2f}]  "
                f"ratio {ratio['median']:.3f} [{ratio['min']:.3f}, {ratio['max']:.3f}]"
            )


if __name__ == "__main__":
    main()
