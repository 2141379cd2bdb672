"""Drift statistics: PSI on reference-defined bins, and the two-sample KS test.

PSI (population stability index) compares the share of rows per bin:
``sum((batch - ref) * ln(batch / ref))``. Bins come from the reference only, so the
same reference always bins a batch the same way. Missing values are a bin of their own:
a feature that starts arriving empty has drifted even if its present values have not.
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


def _numeric_shares(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    # Bins are (low, high], matching edges that are observed values; the outer bins are
    # open-ended, so values beyond the reference's range land in them.
    which = np.searchsorted(inner, values[~missing], side="left")
    counts = np.bincount(which, minlength=inner.size + 1).astype(np.float64)
    return np.append(counts, missing.sum()) / max(values.size, 1)


def bin_numeric(reference: np.ndarray, batch: np.ndarray, bins: int) -> Binned:
    inner = quantile_edges(reference, bins)
    bounds = ["-inf", *(f"{e:.6g}" for e in inner), "inf"]
    labels = [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]
    return Binned([*labels, "missing"], _numeric_shares(reference, inner), _numeric_shares(batch, inner))


def _category_shares(values: pd.Series, levels: Sequence[object]) -> np.ndarray:
    counts = values.value_counts(dropna=True)
    known = [float(counts.get(level, 0)) for level in levels]
    other = float(values.notna().sum()) - sum(known)  # validated batches have none
    return np.array([*known, other, float(values.isna().sum())]) / max(len(values), 1)


def bin_categorical(reference: pd.Series, batch: pd.Series, levels: Sequence[object], bins: int) -> Binned:
    """A bin per level, up to ``bins``; with more levels, the reference's ``bins - 1`` most frequent
    keep theirs and the rest share "other". PSI's expected value with no drift at all grows with
    the bin count over the batch size: 300 levels in a 300-row batch would read as drift."""
    if len(levels) > bins:
        counts = reference.value_counts(dropna=True)
        by_count = sorted(levels, key=lambda level: -counts.get(level, 0))  # stable: ties keep order
        levels = by_count[: bins - 1]
    labels = [str(level) for level in levels]
    return Binned(
        [*labels, "other", "missing"],
        _category_shares(reference, levels),
        _category_shares(batch, levels),
    )


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
