"""Seeded synthetic churn table: the bundled sample data and benchmark inputs.

The generating process is deliberately its own world (not read from schema.py): it
is what "reality" looks like, and the schema is what we expect of it. Signal comes
from main effects, two interactions and label noise; ~20% positives; a few
percent missing values in the nullable columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlapp.csv_names import csv_header
from mlapp.errors import UserError
from mlapp.sources import is_parquet

CONTRACTS = np.array(["month-to-month", "one-year", "two-year"])
PAYMENTS = np.array(["electronic-check", "mailed-check", "bank-transfer", "credit-card"])
INTERNET = np.array(["dsl", "fiber", "none"])
REGIONS = np.array(["north", "south", "east", "west"])
TIERS = np.array(["basic", "standard", "premium"])
START = np.datetime64("2024-01-01T00:00:00")
SPAN_SECONDS = 2 * 365 * 24 * 3600
LABEL = "churned"  # the sample's label column (params.yaml data.label names the project's)
INTERCEPT = -2.05  # tuned so that ~20% of rows churn


def generate(rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """``first_id``: the number of the first customer id; 0 gives the sample's own ids."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, rows, p=[0.55, 0.25, 0.20])
    internet = rng.choice(INTERNET, rows, p=[0.35, 0.45, 0.20])
    tier = rng.choice(TIERS, rows, p=[0.5, 0.35, 0.15])
    tenure = np.clip(rng.gamma(1.6, 18.0, rows), 0, 120).astype(np.int64)
    base_charge = np.select([internet == "fiber", internet == "dsl"], [75.0, 50.0], 22.0)
    tier_charge = np.select([tier == "premium", tier == "standard"], [30.0, 12.0], 0.0)
    monthly = np.round(np.clip(base_charge + tier_charge + rng.normal(0, 12, rows), 5, 400), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.9, 1.05, rows), 2)
    tickets = rng.poisson(np.where(internet == "fiber", 1.6, 0.9), rows)
    satisfaction = np.round(np.clip(rng.normal(7.2, 1.6, rows) - 0.35 * tickets, 1, 10), 1)
    logins = rng.poisson(np.clip(18 + 0.1 * tenure - 1.5 * tickets, 1, None), rows)
    late = np.minimum(rng.poisson(0.6, rows), 12)
    discount = np.round(np.where(rng.random(rows) < 0.3, rng.uniform(5, 40, rows), 0.0), 1)
    age = np.clip(rng.normal(45, 14, rows), 18, 95).astype(np.int64)
    payment = rng.choice(PAYMENTS, rows, p=[0.35, 0.2, 0.25, 0.2])

    logit = (
        INTERCEPT
        + np.select([contract == "month-to-month", contract == "one-year"], [1.3, 0.0], -1.2)
        - 0.035 * tenure
        + 0.012 * (monthly - 60) * (internet == "fiber")  # price hurts fiber users most
        + 0.30 * tickets * (satisfaction < 6)  # tickets matter when they end unhappy
        - 0.25 * (satisfaction - 7)
        + 0.35 * late
        + 0.45 * (payment == "electronic-check")
        - 0.02 * discount
        - 0.015 * (logins - 18)
        + rng.normal(0, 0.6, rows)  # unobserved causes
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(first_id, first_id + rows)],
            "event_time": START + rng.integers(0, SPAN_SECONDS, rows).astype("timedelta64[s]"),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "region": rng.choice(REGIONS, rows),
            "plan_tier": tier,
            "paperless_billing": rng.random(rows) < 0.6,
            "age": age,
            "num_products": 1 + rng.poisson(1.2, rows),
            "support_tickets_90d": tickets,
            "logins_30d": logins,
            "avg_session_minutes": np.round(rng.lognormal(2.5, 0.6, rows), 1),
            "late_payments_12m": late,
            "discount_pct": discount,
            "satisfaction_score": satisfaction,
            LABEL: churned,
        }
    )
    return _with_missing(frame, rng)


def _with_missing(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    for column, share in {
        "total_charges": 0.02,
        "payment_method": 0.03,
        "avg_session_minutes": 0.05,
        "satisfaction_score": 0.08,
    }.items():
        frame.loc[rng.random(len(frame)) < share, column] = None
    return frame.sort_values("event_time", kind="stable").reset_index(drop=True)


def check_replaceable(frame: pd.DataFrame, path: Path, sep: str) -> None:
    """Only the sample replaces the sample: after adopting the template, ``data.raw`` is the
    team's own table (its other copy is in the DVC cache, but nobody expects to need it)."""
    if not path.is_file():
        return
    try:
        same = not is_parquet(path) and csv_header(path, sep) == list(frame.columns)
    except UnicodeDecodeError:  # not even text: certainly not the sample
        same = False
    if not same:
        raise UserError(
            f"{path} holds another table than the synthetic sample: `generate` does not "
            "overwrite it; pass --out to write the sample elsewhere"
        )


def write(frame: pd.DataFrame, path: Path, sep: str, decimal: str) -> None:
    """The sample as a CSV separated by ``sep`` (``data.csv_separator``), numbers written with
    ``decimal`` (``data.decimal``), as validate reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, sep=sep, decimal=decimal, date_format="%Y-%m-%dT%H:%M:%S")
