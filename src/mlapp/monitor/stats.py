"""Drift statistics: PSI on reference-defined bins, and the two-sample KS test.

PSI (population stability index) compares the share of rows per bin:
``sum((batch - ref) * ln(batch / ref))``. Bins come from the reference only, so the
same reference always bins a batch the same way. Missing values are a bin of their own:
a feature that starts arriving empty has drifted even if its present values have not.

A batch is counted chunk by chunk (``NumericTally``, ``CategoryTally``: memory holds the
reference and the counts, not the batch), with the same numbers as the whole batch at once:
the bins are the reference's, so a batch's shares are counts; and the KS distance is read
from the batch's counts at and between the reference's distinct values, where the two
empirical distribution functions' largest gap lies (``ks_from_counts``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

# An empty bin would make ln(0) infinite; this floor (the usual choice) caps one bin's
# contribution while keeping a category that vanishes or appears clearly visible.
EMPTY_BIN_SHARE = 1e-4
# scipy's ks_2samp is exact up to this many rows on either side, asymptotic above (its MAX_AUTO_N).
MAX_AUTO_N = 10_000


@dataclass(frozen=True)
class Binned:
    """Shares of rows per bin, the last bin being "missing"; labels say what each bin holds."""

    labels: list[str]
    reference: np.ndarray
    batch: np.ndarray


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the reference's quantiles; ties (integer features) merge bins.

    Edges are observed values (no interpolation), so an integer feature is cut at integers.
    An edge may be the minimum: a value most rows share (a capital gain of 0 in 92% of
    them) is then a bin of its own, (-inf, 0]. Taking every quantile and dropping the first
    and last unique ones merged it with the rest, and PSI saw one bin holding 100% of both
    sides whatever the share of non-zero values did. An edge at the maximum is dropped: its
    bin above would be empty in the reference.
    """
    present = reference[~np.isnan(reference)]
    if present.size == 0:
        return np.array([], dtype=np.float64)
    inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf")
    edges = np.unique(inner)
    return edges[edges < present.max()]


def _numeric_counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Rows per bin, the last bin missing values."""
    missing = np.isnan(values)
    # Bins are (low, high], matching edges that are observed values; the outer bins are
    # open-ended, so values beyond the reference's range land in them.
    which = np.searchsorted(inner, values[~missing], side="left")
    counts = np.bincount(which, minlength=inner.size + 1).astype(np.float64)
    return np.append(counts, missing.sum())


class NumericTally:
    """A numeric column of the batch counted chunk by chunk (``add``) against the reference's
    quantile bins (PSI) and its distinct values (KS): the whole batch's numbers, without it."""

    def __init__(self, reference: np.ndarray, bins: int) -> None:
        self.inner = quantile_edges(reference, bins)
        self.reference_shares = _numeric_counts(reference, self.inner) / max(reference.size, 1)
        self.reference_missing = float(np.isnan(reference).sum()) / max(reference.size, 1)
        self.present = np.sort(reference[~np.isnan(reference)])  # KS's p-value on small batches
        self.points, counts = np.unique(self.present, return_counts=True)
        self.reference_cdf = np.cumsum(counts)  # reference rows at or below each point
        self.counts = np.zeros(self.inner.size + 2)
        self.at = np.zeros(self.points.size, dtype=np.int64)  # batch rows equal to each point
        self.below = np.zeros(self.points.size + 1, dtype=np.int64)  # strictly between the points
        self.rows, self.total = 0, 0.0  # the sum: the mean of a score

    def add(self, values: np.ndarray) -> None:
        self.rows += values.size
        self.counts += _numeric_counts(values, self.inner)
        present = values[~np.isnan(values)]
        self.total += float(present.sum())
        where = np.searchsorted(self.points, present, side="left")
        equal = np.zeros(present.size, dtype=bool)
        inside = where < self.points.size
        equal[inside] = self.points[where[inside]] == present[inside]
        self.at += np.bincount(where[equal], minlength=self.points.size)
        self.below += np.bincount(where[~equal], minlength=self.points.size + 1)

    def binned(self) -> Binned:
        bounds = ["-inf", *(f"{e:.6g}" for e in self.inner), "inf"]
        labels = [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]
        return Binned([*labels, "missing"], self.reference_shares, self.counts / max(self.rows, 1))

    def missing(self) -> float:
        return float(self.counts[-1]) / max(self.rows, 1)

    def ks(self) -> tuple[float, float] | None:
        return ks_from_counts(self.present, self.points, self.reference_cdf, self.at, self.below)


def _category_counts(values: pd.Series, levels: Sequence[object]) -> np.ndarray:
    counts = values.value_counts(dropna=True)
    known = [float(counts.get(level, 0)) for level in levels]
    other = float(values.notna().sum()) - sum(known)  # validated batches have none
    return np.array([*known, other, float(values.isna().sum())])


class CategoryTally:
    """A category of the batch counted chunk by chunk: a bin per level, up to ``bins``; with more
    levels, the reference's ``bins - 1`` most frequent keep theirs and the rest share "other". PSI's
    expected value with no drift at all grows with the bin count over the batch size: 300 levels in
    a 300-row batch would read as drift."""

    def __init__(self, reference: pd.Series, levels: Sequence[object], bins: int) -> None:
        if len(levels) > bins:
            counts = reference.value_counts(dropna=True)
            by_count = sorted(levels, key=lambda level: -counts.get(level, 0))  # stable: ties keep order
            levels = by_count[: bins - 1]
        self.levels = levels
        self.reference_shares = _category_counts(reference, levels) / max(len(reference), 1)
        self.reference_missing = float(reference.isna().sum()) / max(len(reference), 1)
        self.counts = np.zeros(len(levels) + 2)
        self.rows = 0

    def add(self, values: pd.Series) -> None:
        self.rows += len(values)
        self.counts += _category_counts(values, self.levels)

    def binned(self) -> Binned:
        labels = [str(level) for level in self.levels]
        return Binned([*labels, "other", "missing"], self.reference_shares, self.counts / max(self.rows, 1))

    def missing(self) -> float:
        return float(self.counts[-1]) / max(self.rows, 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (empty bins floored, see module doc)."""
    both_empty = (expected == 0) & (actual == 0)
    e = np.maximum(expected[~both_empty], EMPTY_BIN_SHARE)
    a = np.maximum(actual[~both_empty], EMPTY_BIN_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float] | None:
    """KS distance and p-value on the present values; None when either side has none."""
    ref, new = reference[~np.isnan(reference)], batch[~np.isnan(batch)]
    if ref.size == 0 or new.size == 0:
        return None
    result = stats.ks_2samp(ref, new)
    return float(result.statistic), float(result.pvalue)


def ks_from_counts(
    reference: np.ndarray, points: np.ndarray, reference_cdf: np.ndarray, at: np.ndarray, below: np.ndarray
) -> tuple[float, float] | None:
    """``ks`` of the reference's present values (sorted; ``points`` distinct, ``reference_cdf`` rows
    at or below each) and a batch known by its counts at each point (``at``) and strictly below
    it, above the point before (``below``, one more: above the last point).

    Both distribution functions are steps; between two reference points the reference's is flat
    and the batch's rises, so the largest gap is at a point or just below the next: the same
    distance as scipy's over every value. Its p-value depends on the distance and the two sizes
    alone: scipy's own (``ks_2samp``, exact up to ``MAX_AUTO_N`` rows) on a batch of the same
    counts, one value per interval, or above that scipy's asymptotic one, as ``ks_2samp`` does.
    """
    n_ref, n_batch = reference.size, int(at.sum() + below.sum())
    if n_ref == 0 or n_batch == 0:
        return None
    batch_upto = np.cumsum(at) + np.cumsum(below)[:-1]  # batch rows at or below each point
    reference_before = np.r_[0, reference_cdf[:-1]]  # reference rows below each point
    gaps = np.concatenate(
        [reference_cdf / n_ref - batch_upto / n_batch, reference_before / n_ref - (batch_upto - at) / n_batch]
    )
    distance = float(np.max(np.abs(gaps)))
    if n_batch <= MAX_AUTO_N:  # one value per interval: strictly inside it, as the batch's were
        inside = np.concatenate([[np.nextafter(points[0], -np.inf)], np.nextafter(points, np.inf)])
        return ks(reference, np.repeat(np.concatenate([points, inside]), np.concatenate([at, below])))
    m, n = max(n_ref, n_batch), min(n_ref, n_batch)
    pvalue = float(np.clip(stats.kstwo.sf(distance, np.round(m * n / (m + n))), 0, 1))
    return distance, pvalue
