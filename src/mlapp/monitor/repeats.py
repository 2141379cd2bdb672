"""Rows whose model inputs repeat an earlier row's: a constant batch (a health check or a stuck
upstream sending one record) or a replayed one (records logged twice, a log concatenated with
itself).

Such rows say nothing new about the population, yet every one moves the batch's shares toward
the repeated records: 400 health checks among 1,500 served rows read as drift in 9 of 17 features
and "retrain". A batch whose share of repeated rows exceeds the reference's by more than
``monitor.repeated_share`` is refused (exit 2) with what was seen: how many rows one record
fills, and which ranges of rows repeat which (``rows 1500-2999 repeat rows 0-1499``). Tables
whose rows repeat by nature (few categorical features) do so in the reference too, so only the
excess counts.

The rows are counted chunk by chunk as 8-byte hashes of their inputs, with their 0-based rows (16
bytes a row); two distinct rows sharing a hash (about 1 in 10 million at 2 million rows) would
count as a repeat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlapp.problem_row import Problem
from mlapp.schema import FEATURES

RULE = (
    "no more rows repeating an earlier row's features than the reference has ({reference:.1%}) plus "
    "monitor.repeated_share ({allowed:.0%}), but {share:.1%} do: a health check, a stuck upstream or a "
    "replayed log is no drift; leave those rows out of the batch"
)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash of each row's model inputs, as typed (a missing value hashes alike)."""
    return pd.util.hash_pandas_object(frame[list(FEATURES)], index=False).to_numpy()


def repeated_share_of(hashes: np.ndarray) -> float:
    """The share of rows (``row_hashes``) whose inputs equal an earlier row's."""
    return float(pd.Series(hashes).duplicated().mean()) if len(hashes) else 0.0


def _runs(rows: np.ndarray, repeat_of: np.ndarray, limit: int) -> list[str]:
    """The longest ranges of rows that repeat as many consecutive earlier rows in the same order (a
    replay), as ``rows a-b repeat rows c-d``: two rows at least, ``limit`` ranges at most.
    ``repeat_of``: the earlier row each row repeats, -1 for none."""
    at = np.flatnonzero(repeat_of >= 0)
    later, earlier = rows[at], repeat_of[at]
    # A range goes on while the next repeated row is the next row and repeats the next earlier row.
    breaks = np.flatnonzero((np.diff(later) != 1) | (np.diff(earlier) != 1)) + 1
    runs = [(int(part[0]), int(part[-1])) for part in np.split(np.arange(len(at)), breaks) if len(part) > 1]
    runs.sort(key=lambda run: (run[0] - run[1], run[0]))  # the longest first
    return [f"rows {later[a]}-{later[b]} repeat rows {earlier[a]}-{earlier[b]}" for a, b in runs[:limit]]


class Repeats:
    """Feed it the typed batch chunk by chunk (``add``), then ask for its ``problem``."""

    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def add(self, frame: pd.DataFrame) -> None:
        if len(frame) and set(FEATURES) <= set(frame.columns):  # a missing column is said elsewhere
            self.hashes.append(row_hashes(frame))
            self.rows.append(frame.index.to_numpy())

    def share(self) -> float:
        """The share of the batch's rows whose inputs equal an earlier row's."""
        return repeated_share_of(np.concatenate(self.hashes)) if self.hashes else 0.0

    def problem(self, reference: float, allowed: float, limit: int) -> Problem | None:
        """The batch's repeated rows when their share exceeds ``reference`` by more than ``allowed``."""
        if self.share() - reference <= allowed:
            return None
        hashes, rows = np.concatenate(self.hashes), np.concatenate(self.rows)
        codes, uniques = pd.factorize(hashes)
        first = np.full(len(uniques), len(codes))
        np.minimum.at(first, codes, np.arange(len(codes)))  # each record's first position
        position = first[codes]
        repeated = position != np.arange(len(codes))
        share = float(repeated.mean())
        counts = np.bincount(codes)
        top = int(np.argmax(counts))
        runs = _runs(rows, np.where(repeated, rows[position], -1), limit)
        # A record twice is what a replay makes of every record: the ranges say it.
        one = f"{counts[top]} of {len(codes)} rows are one record (first at row {rows[first[top]]})"
        seen = [one] * bool(counts[top] > 2 or not runs) + runs
        rule = RULE.format(reference=reference, allowed=allowed, share=share)
        return Problem("<table>", rule, int(repeated.sum()), seen, [int(r) for r in rows[repeated][:limit]])
