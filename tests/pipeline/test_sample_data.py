import pandas as pd

from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.stages.validate import validate_table
from tests.conftest import REPO


def test_same_seed_same_table() -> None:
    pd.testing.assert_frame_equal(generate(500, 3), generate(500, 3))
    assert not generate(500, 3).equals(generate(500, 4))


def test_shape_imbalance_and_missing_values() -> None:
    frame = generate(20_000, 11)
    assert frame["customer_id"].is_unique
    assert 0.17 < frame["churned"].mean() < 0.23
    assert frame[["total_charges", "payment_method", "satisfaction_score"]].isna().any().all()
    assert frame["event_time"].is_monotonic_increasing


def test_sample_satisfies_the_schema() -> None:
    frame = generate(2_000, 5).astype(str).replace({"nan": None, "None": None})
    validated, dropped = validate_table(frame, load_params(REPO / "params.yaml"))
    assert len(validated) == 2_000 and dropped == 0
