"""How far the F1-chosen threshold and the metrics at it move between training runs when
positives are rare, beside the threshold-free pr_auc and roc_auc: which gate.primary_metric
judges a PR by its model rather than by train.seed's luck (docs/pr-report.md, "Rare positives").

    nice -n 10 uv run python benchmarks/rare_positives.py [--share 0.005] [--rows 60000]
        [--seeds 0 1 2 3 4 5 6 7 8 9] [--out benchmarks/results/rare_positives.json]

The bundled sample (``mlapp.sample_data.generate``) keeps every negative and a seeded draw of
positives making ``--share`` of the rows; a fixed fifth of them is the test set. Each seed is one
``train.seed`` (the early-stopping and threshold rows, the subsampling), every other shipped
``train:`` setting unchanged; each model is scored on the same test rows as evaluate scores it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import metrics
from mlapp.model import Model
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.stages.train import train
from revisions import REPO, result_head, write_result

MEASURES = ("threshold", "f1", "precision", "recall", "pr_auc", "roc_auc")


def rare_table(rows: int, share: float) -> pd.DataFrame:
    """Every negative of ``rows`` sample rows and positives drawn to make ``share`` of the result."""
    frame = generate(rows, 11)
    negatives, positives = frame[frame.churned == 0], frame[frame.churned == 1]
    kept = positives.sample(round(share / (1 - share) * len(negatives)), random_state=1)
    return pd.concat([negatives, kept]).sample(frac=1, random_state=2).reset_index(drop=True)


def measured(frame: pd.DataFrame, seeds: list[int]) -> list[dict[str, Any]]:
    shipped = load_params(REPO / "params.yaml").train
    test, rest = frame.iloc[: len(frame) // 5], frame.iloc[len(frame) // 5 :]
    fits = []
    for seed in seeds:
        booster, spec = train(rest, "churned", shipped.model_copy(update={"seed": seed}), examples=5)
        y = spec.encode(test["churned"], examples=5)
        scores = metrics.classification_metrics(y, Model(booster, spec, "").scores(test), spec.cutoff)
        fits.append({"seed": seed, **{k: scores[k] for k in MEASURES}})
        print(fits[-1], flush=True)
    return fits


def spread(fits: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per measure: its range over seeds and its coefficient of variation (sd / mean)."""
    out = {}
    for name in MEASURES:
        values = np.array([f[name] for f in fits])
        cv = values.std(ddof=1) / values.mean() if values.mean() else float("nan")
        out[name] = {"min": round(float(values.min()), 4), "max": round(float(values.max()), 4),
                     "cv": round(float(cv), 3)}  # fmt: skip
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["| measure | min | max | sd / mean |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['min']} | {v['max']} | {v['cv']:.0%} |" for k, v in result["spread"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.005)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "rare_positives.json")
    args = parser.parse_args()
    head = result_head("rare_positives.py")  # before the fits: its date and load_before are the start's
    frame = rare_table(args.rows, args.share)
    test = frame.iloc[: len(frame) // 5]
    fits = measured(frame, args.seeds)
    result = {
        **head,
        "rows": len(frame),
        "positives": int(frame.churned.sum()),
        "test_rows": len(test),
        "test_positives": int(test.churned.sum()),
        "fits": fits,
        "spread": spread(fits),
    }
    write_result(result, args.out, markdown)


if __name__ == "__main__":
    main()
