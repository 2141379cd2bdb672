"""Rows whose event time is later than the run's clock: a serving node's clock running ahead, or a
unit error (milliseconds written as seconds, a local time written as UTC).

They are named, not left out: their features were served, so drift, prediction shift and decay
count them as the other rows; only their time is wrong. What the report says of them
(``future`` in monitor.json): how many, the first rows, the latest time and how far it is ahead
of the run, so the node or the writer can be found. A time without a UTC offset is read as UTC
(the service writes ``Z``). Up to ``monitor.future_slack_s`` ahead is clock drift, not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _utc(times: pd.Series) -> pd.Series:
    """Times as UTC instants, a time without an offset read as UTC."""
    return times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")


class FutureTimes:
    """Feed it the typed batch chunk by chunk (``add``), then ask for ``found``."""

    def __init__(self, column: str | None, now: pd.Timestamp, slack_s: float, limit: int) -> None:
        self.column, self.now, self.limit = column, now, limit
        self.after = now + pd.Timedelta(seconds=slack_s)
        self.rows = 0
        self.first: list[int] = []
        self.latest: pd.Timestamp | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if self.column is None or self.column not in frame.columns:
            return
        times = frame[self.column]
        if not pd.api.types.is_datetime64_any_dtype(times):
            return  # a column the schema did not type: refused by the check already
        utc = _utc(times)
        ahead = utc > self.after
        if not ahead.any():
            return
        self.rows += int(ahead.sum())
        self.first += [int(r) for r in frame.index[ahead.to_numpy()][: self.limit - len(self.first)]]
        latest = utc[ahead].max()
        self.latest = latest if self.latest is None else max(self.latest, latest)

    def found(self) -> dict[str, Any] | None:
        """monitor.json's ``future``: None when the batch has no event-time column."""
        if self.column is None:
            return None
        ahead = None if self.latest is None else float(np.round((self.latest - self.now).total_seconds(), 3))
        return {
            "column": self.column,
            "rows": self.rows,
            "first_rows": self.first,
            "latest": None if self.latest is None else self.latest.isoformat(),
            "most_ahead_s": ahead,
        }
