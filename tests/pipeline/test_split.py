from pathlib import Path

import pandas as pd
import pytest

from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.stages.split import SplitError, run, split
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def test_stratified_split_is_disjoint_seeded_and_balanced() -> None:
    frame = generate(4_000, 1)
    train, test = split(frame, PARAMS.data, PARAMS.split)
    assert set(train.customer_id).isdisjoint(test.customer_id)
    assert len(train) + len(test) == len(frame)
    assert abs(len(test) / len(frame) - PARAMS.split.test_size) < 0.01
    assert abs(train.churned.mean() - test.churned.mean()) < 0.01
    # Row order of the input must not change the result.
    shuffled = frame.sample(frac=1, random_state=0)
    _, test2 = split(shuffled, PARAMS.data, PARAMS.split)
    pd.testing.assert_frame_equal(test.reset_index(drop=True), test2.reset_index(drop=True))


def test_time_split_puts_latest_events_in_test() -> None:
    params = PARAMS.split.model_copy(update={"method": "time"})
    train, test = split(generate(4_000, 2), PARAMS.data, params)
    assert train.event_time.max() <= test.event_time.min()


def test_time_split_without_time_column_is_a_clear_error() -> None:
    data = PARAMS.data.model_copy(update={"time_column": None})
    params = PARAMS.split.model_copy(update={"method": "time"})
    with pytest.raises(ValueError, match="time_column"):
        split(generate(500, 2), data, params)


def test_a_part_without_a_class_is_a_clear_error(tmp_path: Path) -> None:
    """A time split whose latest rows hold a single class would leave the test metrics undefined
    (evaluate would crash on a NaN ROC AUC): the split stage says which class and part."""
    frame = generate(300, 2).sort_values("event_time", ignore_index=True)
    frame.loc[240:, "churned"] = 0  # no churner among the latest 20%
    source = tmp_path / "validated.parquet"
    frame.to_parquet(source, index=False)
    params = PARAMS.model_copy(update={"split": PARAMS.split.model_copy(update={"method": "time"})})
    with pytest.raises(SplitError, match=r"the test part \(60 rows\) has no rows of class \['1'\]"):
        run(params, source=source, train_path=tmp_path / "train.parquet", test_path=tmp_path / "test.parquet")
    assert not (tmp_path / "test.parquet").exists()


def test_a_regression_split_does_not_claim_to_be_stratified(tmp_path: Path, capsys) -> None:
    frame = generate(200, 2).assign(churned=lambda f: f["monthly_charges"] * 1.5)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    params = PARAMS.model_copy(update={"task": "regression"})
    run(
        params,
        source=tmp_path / "validated.parquet",
        train_path=tmp_path / "a.parquet",
        test_path=tmp_path / "b.parquet",
    )
    assert (
        capsys.readouterr().out
        == "split (random: a regression label has no classes): 160 train rows, 40 test rows\n"
    )
