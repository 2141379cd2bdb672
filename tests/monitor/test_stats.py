from collections.abc import Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from mlapp.monitor import stats

RNG = np.random.default_rng(0)


def bin_numeric(reference: np.ndarray, batch: np.ndarray, bins: int) -> stats.Binned:
    """The whole batch's shares per bin: one tally of all of it."""
    tally = stats.NumericTally(reference, bins)
    tally.add(batch)
    return tally.binned()


def bin_categorical(
    reference: pd.Series, batch: pd.Series, levels: Sequence[object], bins: int
) -> stats.Binned:
    tally = stats.CategoryTally(reference, levels, bins)
    tally.add(batch)
    return tally.binned()


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    ref = RNG.normal(0, 1, 5000)
    same = bin_numeric(ref, ref, 10)
    assert stats.psi(same.reference, same.batch) == 0
    small = bin_numeric(ref, ref + 0.1, 10)
    large = bin_numeric(ref, ref + 1.0, 10)
    assert 0 < stats.psi(small.reference, small.batch) < 0.1 < 0.5 < stats.psi(large.reference, large.batch)


def test_quantile_bins_hold_equal_reference_shares_and_open_outer_bins() -> None:
    ref = np.arange(1000, dtype=float)
    binned = bin_numeric(ref, np.array([-1e9, 1e9]), 4)
    assert binned.reference.tolist() == [0.25, 0.25, 0.25, 0.25, 0.0]  # last bin: missing
    assert binned.batch.tolist() == [0.5, 0, 0, 0.5, 0]  # out-of-range values land at the ends
    assert binned.labels[0].startswith("(-inf") and binned.labels[-1] == "missing"


def test_ties_merge_bins_for_integer_features() -> None:
    ref = np.array([0.0] * 700 + [1.0] * 200 + [2.0] * 100)
    assert stats.quantile_edges(ref, 10).tolist() == [0.0, 1.0]  # (-inf, 0], (0, 1], (1, inf)


def test_a_value_most_rows_share_is_a_bin_and_its_share_moving_is_drift() -> None:
    """A capital gain is 0 in 92% of the rows: every decile is 0. The zeros were merged with
    the rest into one bin of 100%, so PSI read 0.000 when the non-zero share rose to 40%
    (KS alone saw it) and the report's largest change was "(-inf, inf]: 100.0% -> 100.0%"."""
    rng = np.random.default_rng(4)
    ref = np.where(rng.random(5000) < 0.08, rng.integers(100, 99_999, 5000), 0).astype(float)
    batch = np.where(rng.random(2000) < 0.40, rng.integers(100, 99_999, 2000), 0).astype(float)
    assert stats.quantile_edges(ref, 10).tolist() == [0.0]
    binned = bin_numeric(ref, batch, 10)
    assert binned.labels == ["(-inf, 0]", "(0, inf]", "missing"]
    assert binned.reference[:2] == pytest.approx([0.92, 0.08], abs=0.01)
    assert stats.psi(binned.reference, binned.batch) > 0.5
    unchanged = bin_numeric(ref, ref[:2000], 10)
    assert stats.psi(unchanged.reference, unchanged.batch) < 0.01


def test_continuous_features_keep_their_deciles() -> None:
    """Without a value many rows share, the edges are the nine inner deciles, as before the
    change (every quantile, the first and last dropped)."""
    ref = RNG.normal(0, 1, 3000)
    before = np.unique(np.quantile(ref, np.linspace(0, 1, 11), method="inverted_cdf"))[1:-1]
    assert stats.quantile_edges(ref, 10).tolist() == before.tolist()
    assert stats.quantile_edges(np.full(50, 3.0), 10).tolist() == []  # a constant: one bin


def test_missing_values_are_a_bin_of_their_own() -> None:
    ref = RNG.normal(0, 1, 2000)
    batch = ref.copy()
    batch[:200] = np.nan  # same present values, 10% now missing
    binned = bin_numeric(ref, batch, 10)
    assert binned.batch[-1] == pytest.approx(0.1)
    assert stats.psi(binned.reference, binned.batch) > 0.2


def test_categorical_shares_follow_declared_levels_and_count_missing() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    batch = pd.Series(["a"] * 80 + [None] * 20)
    binned = bin_categorical(ref, batch, ["a", "b", "c"], bins=10)
    assert binned.labels == ["a", "b", "c", "other", "missing"]
    assert binned.batch.tolist() == [0.8, 0.0, 0.0, 0.0, 0.2]
    assert stats.psi(binned.reference, binned.batch) > 1  # "b" vanished, missing appeared


def test_ks_ignores_missing_values_and_needs_both_sides() -> None:
    ref = RNG.normal(0, 1, 500)
    with_gaps = np.append(ref, [np.nan] * 50)
    assert stats.ks(ref, with_gaps) == (0.0, 1.0)
    assert stats.ks(ref, np.array([np.nan])) is None


def test_a_category_of_many_levels_is_binned_by_its_most_frequent_ones() -> None:
    """300 levels, a 300-row batch from the very same distribution: a bin per level reads
    sampling noise as drift (PSI about 1); the reference's top levels plus "other" do not.
    Moving rows into the most common level is still drift."""
    levels = [f"c{i:03d}" for i in range(300)]
    rng = np.random.default_rng(3)
    weights = 1 / np.arange(1, 301)  # a few common levels, a long tail
    p = weights / weights.sum()
    ref = pd.Series(rng.choice(levels, 20_000, p=p))
    same = pd.Series(rng.choice(levels, 300, p=p))
    shifted = same.copy()
    shifted[:100] = "c000"  # a third of the rows move to the commonest level
    binned = bin_categorical(ref, same, levels, bins=10)
    assert binned.labels == [*(f"c{i:03d}" for i in range(9)), "other", "missing"]
    assert binned.reference.sum() == pytest.approx(1) and binned.batch.sum() == pytest.approx(1)
    assert stats.psi(binned.reference, binned.batch) < 0.1
    assert stats.psi(*_shares(bin_categorical(ref, same, levels, bins=len(levels)))) > 0.2  # per level
    assert stats.psi(*_shares(bin_categorical(ref, shifted, levels, bins=10))) > 0.2


def _shares(binned: stats.Binned) -> tuple[np.ndarray, np.ndarray]:
    return binned.reference, binned.batch


def test_a_nullable_boolean_feature_drifts_as_a_category() -> None:
    """pa.Column("boolean", nullable=True) is binned as False/True/missing like a bool (it was
    taken for a number: quantile bins and a KS test on 0/1)."""
    from mlapp.monitor.drift import feature_drift
    from mlapp.params import load_params
    from tests.conftest import REPO

    schema = pa.DataFrameSchema({"vip": pa.Column("boolean", nullable=True)})
    reference = pd.DataFrame({"vip": pd.array([True, False, None, False] * 100, dtype="boolean")})
    batch = pd.DataFrame({"vip": pd.array([True, True, None, True] * 100, dtype="boolean")})
    (drift,) = feature_drift(reference, batch, schema, load_params(REPO / "params.yaml").monitor)
    assert (drift.kind, drift.ks_statistic, drift.drifted) == ("categorical", None, True)
    assert drift.largest_change == "False: 50.0% -> 0.0%"
