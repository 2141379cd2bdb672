"""Batches for the monitor tests, all from the sample-data generator (the same process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mlapp.sample_data import generate

ROWS = 1500
LABEL = "churned"
# The two features the drifted batch moves; nothing else may be flagged.
DRIFTED = ["monthly_charges", "contract"]


def fresh(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """Another draw from the training data's process: must not be flagged."""
    frame = generate(rows, seed)
    frame["customer_id"] = [f"N{seed}-{i:06d}" for i in range(rows)]  # new customers
    return frame


def drifted(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """Prices up 20 (mean ~64 -> ~84) and a new contract mix (month-to-month 55% -> 85%)."""
    frame = fresh(seed, rows)
    rng = np.random.default_rng(seed)
    frame["monthly_charges"] = np.round(frame["monthly_charges"] + 20.0, 2)
    frame["contract"] = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.85, 0.10, 0.05])
    return frame


def flipped(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Labels flipped for a share of rows: the world the model learnt has changed."""
    out = frame.copy()
    flip = np.random.default_rng(seed).random(len(out)) < share
    out.loc[flip, LABEL] = 1 - out.loc[flip, LABEL]
    return out


def write_csv(frame: pd.DataFrame, path: Path, *, labels: bool = False) -> Path:
    if not labels:
        frame = frame.drop(columns=[LABEL])
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    return path


def write_log(
    frame: pd.DataFrame,
    path: Path,
    *,
    model_version: str,
    scores: np.ndarray | None = None,
    labels: bool = False,
) -> Path:
    """The serving log format: one record per prediction, features nested."""
    features = frame.drop(columns=["customer_id", "event_time", LABEL])
    with path.open("w") as handle:
        for i, (_, row) in enumerate(features.iterrows()):
            record = {
                "id": frame["customer_id"].iloc[i],
                "ts": frame["event_time"].iloc[i].strftime("%Y-%m-%dT%H:%M:%SZ"),
                "features": {
                    k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()
                },
                "probability": None if scores is None else float(scores[i]),
                "label": None if scores is None else int(scores[i] >= 0.5),
                "model_version": model_version,
            }
            if labels:
                record[LABEL] = int(frame[LABEL].iloc[i])
            handle.write(json.dumps(record) + "\n")
    return path
