"""The vectorised paired bootstrap against scikit-learn, resample by resample."""

from __future__ import annotations

import numpy as np
import pytest

from mlapp.metrics import classification_metrics
from mlapp.report import bootstrap, ranking


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random(800) < 0.25).astype(np.int64)
    # Rounded scores: many ties, which is where rank-based AUC formulas usually go wrong.
    good = np.round(np.clip(0.25 + 0.35 * (y - 0.25) + rng.normal(0, 0.2, y.size), 0, 1), 2)
    weak = np.clip(0.25 + 0.1 * (y - 0.25) + rng.normal(0, 0.2, y.size), 0, 1)
    return y, good, weak


def counts(rows: int, resamples: int) -> np.ndarray:
    """How often each row is drawn in each resample, drawn as ``paired_deltas`` draws them."""
    (drawn,) = bootstrap.drawn_chunks(rows, resamples, seed=1)  # one chunk at these sizes
    return bootstrap.tally(drawn, rows)


def as_dict(scores: dict[str, np.ndarray], row: int = 0) -> dict[str, float]:
    return {name: float(values[row]) for name, values in scores.items()}


def test_unit_weights_reproduce_sklearn(scored: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, good, weak = scored
    for proba in (good, weak):
        mine = as_dict(bootstrap.weighted_metrics(np.ones((1, y.size)), y, proba, 0.3))
        reference = classification_metrics(y, proba, 0.3)
        assert mine == pytest.approx({k: reference[k] for k in bootstrap.METRICS}, abs=1e-6)


def test_each_resample_equals_sklearn_on_the_resampled_rows(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    y, good, _ = scored
    weights = counts(y.size, 4)
    assert (weights.sum(axis=1) == y.size).all()
    scores = bootstrap.weighted_metrics(weights, y, good, 0.3)
    for row in range(4):
        rows = np.repeat(np.arange(y.size), weights[row].astype(int))
        reference = classification_metrics(y[rows], good[rows], 0.3)
        assert as_dict(scores, row) == pytest.approx({k: reference[k] for k in bootstrap.METRICS}, abs=1e-6)


def test_paired_deltas_are_seeded_and_zero_for_identical_models(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    y, good, weak = scored
    first = bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 300, seed=5)
    again = bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 300, seed=5)
    other = bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 300, seed=6)
    assert all(np.array_equal(first[m], again[m]) for m in bootstrap.METRICS)
    assert not np.array_equal(first["roc_auc"], other["roc_auc"])
    same = bootstrap.paired_deltas(y, (good, 0.3), (good, 0.3), 300, seed=5)
    assert all((same[m] == 0).all() for m in bootstrap.METRICS)
    assert all(first[m].shape == (300,) for m in bootstrap.METRICS)


def test_chunking_does_not_change_the_resamples(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    y, good, weak = scored
    whole = bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 50, seed=2)
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", y.size * 7)  # 7 resamples per chunk
    chunked = bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 50, seed=2)
    assert all(chunked[m].shape == (50,) for m in bootstrap.METRICS)
    observed = (
        classification_metrics(y, weak, 0.3)["roc_auc"] - classification_metrics(y, good, 0.3)["roc_auc"]
    )
    for deltas in (whole["roc_auc"], chunked["roc_auc"]):
        low, high = bootstrap.percentile_interval(deltas, 0.95)
        assert low < observed < high < 0  # the weak model is clearly worse here


def test_a_resample_without_positives_gives_nan_auc_and_is_left_out() -> None:
    y = np.array([0, 0, 0, 1])
    weights = np.array([[2.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    auc = bootstrap.roc_auc(weights, y, np.array([0.1, 0.2, 0.3, 0.9]))
    assert np.isnan(auc[0]) and auc[1] == 1.0
    assert bootstrap.percentile_interval(np.array([np.nan, 0.1, 0.2, 0.3]), 0.5) == pytest.approx(
        (0.15, 0.25)
    )


def test_multiclass_and_regression_resamples_equal_sklearn() -> None:
    from mlapp.metrics import flat, multiclass_metrics, regression_metrics

    rng = np.random.default_rng(3)
    classes = ["adelie", "chinstrap", "gentoo"]
    y = rng.integers(0, 3, 400)
    proba = rng.dirichlet([1, 1, 1], 400) + np.eye(3)[y] * 0.4
    proba /= proba.sum(axis=1, keepdims=True)
    values = rng.normal(50, 10, 400)
    predicted = values + rng.normal(0, 4, 400)
    weights = counts(400, 3)
    multi = bootstrap.multiclass_metrics(weights, y, proba, classes)
    regr = bootstrap.regression_metrics(weights, values, predicted)
    for row in range(3):
        rows = np.repeat(np.arange(400), weights[row].astype(int))
        reference = flat(multiclass_metrics(y[rows], proba[rows], classes))
        assert as_dict(multi, row) == pytest.approx(reference, abs=1e-6)
        assert as_dict(regr, row) == pytest.approx(
            regression_metrics(values[rows], predicted[rows]), abs=1e-6
        )
    names = bootstrap.metric_names("multiclass", classes)
    assert set(names) == set(multi) and names[:4] == ["accuracy", "f1_macro", "f1_weighted", "log_loss"]


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(lambda rng: 1e12 + rng.normal(0, 100, 400), id="labels near 1e12"),
        pytest.param(lambda rng: np.full(400, 250.0), id="constant labels"),
    ],
)
def test_regression_resamples_equal_sklearn_on_large_and_constant_labels(labels) -> None:
    """Labels near 1e12 gave r2 0.99998 where scikit-learn says 0.75 (sum(y^2) - n mean^2 cancels);
    a constant test label gave nan in every resample, and report.json failed on the nan."""
    from mlapp.metrics import regression_metrics

    rng = np.random.default_rng(5)
    values = labels(rng)
    weights = counts(400, 3)
    for predicted in (values + rng.normal(0, 50, 400), values.copy()):
        scores = bootstrap.regression_metrics(weights, values, predicted)
        for row in range(3):
            rows = np.repeat(np.arange(400), weights[row].astype(int))
            reference = regression_metrics(values[rows], predicted[rows])
            assert as_dict(scores, row) == pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_gate_direction_follows_the_metric() -> None:
    from mlapp.params import GateParams
    from mlapp.report import compare

    policy = GateParams(primary_metric="rmse", min_primary=10.0, max_regression=0.5, require_significant=True)
    rose = compare.MetricDelta("rmse", 9.0, 11.0, 2.0, 1.5, 2.5, False, compare.WORSE)
    result = compare.gate(policy, rose, 0.95, "test")
    assert not result.passed
    assert result.reasons == [
        "rmse 11.0000 is above the maximum 10.0000 (gate.min_primary, a ceiling for rmse, in its units)",
        "rmse rose by 2.0000, more than the allowed 0.5 (5.56% of the base's 9); "
        "95% CI of the change [+1.5000, +2.5000]",
    ]
    fell = compare.MetricDelta("rmse", 9.0, 8.0, -1.0, -1.5, -0.5, False, compare.BETTER)
    assert compare.gate(policy, fell, 0.95, "test").passed


@pytest.mark.parametrize("which", ["tied scores", "distinct scores"])
def test_ranking_metrics_equal_sklearn_per_resample_with_and_without_ties(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray], which: str
) -> None:
    """The ranking module's two paths: scores tied across labels and among positives (the rounded
    model), and none, where it skips those look-ups."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, good, _ = scored
    spread = np.random.default_rng(11).permutation(np.linspace(0, 0.8, y.size))  # no two alike
    proba = good if which == "tied scores" else 0.2 * y + spread
    rows = ranking.ranked(y, proba)
    assert (rows.negatives_not_above is None) == (which == "distinct scores")
    weights = counts(y.size, 5)
    auc, average_precision = ranking.ranking_metrics(rows, weights)
    for row in range(5):
        drawn = np.repeat(np.arange(y.size), weights[row].astype(int))
        assert auc[row] == pytest.approx(roc_auc_score(y[drawn], proba[drawn]), abs=1e-12)
        assert average_precision[row] == pytest.approx(
            average_precision_score(y[drawn], proba[drawn]), abs=1e-12
        )


def test_each_model_is_sorted_once_whatever_the_chunks(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sort per chunk of resamples was most of the time at 100,000 rows (10 resamples a chunk)."""
    y, good, weak = scored
    sorts = []
    original = ranking.ranked
    monkeypatch.setattr(ranking, "ranked", lambda *args: sorts.append(1) or original(*args))
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", y.size * 7)  # 8 chunks of 50 resamples
    bootstrap.paired_deltas(y, (good, 0.3), (weak, 0.3), 50, seed=2)
    assert len(sorts) == 2
