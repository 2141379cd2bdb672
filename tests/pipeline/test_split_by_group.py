"""split.method stratified and time with data.group_column: a group's rows in one part, the class
shares (stratified) or the time order (time) kept as nearly as whole groups allow, reproducibly."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlapp.params import Params, load_params
from mlapp.sample_data import generate
from mlapp.stages import train, validate
from mlapp.stages.split import run, split
from mlapp.stages.split_groups import fold_count
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
GROUPED = PARAMS.data.model_copy(update={"group_column": "household"})


def _params(method: str, task: str = "binary", test_size: float = 0.2) -> Params:
    split_params = PARAMS.split.model_copy(update={"method": method, "test_size": test_size})
    return PARAMS.model_copy(update={"data": GROUPED, "split": split_params, "task": task})


def _rare_panel(households: int) -> pd.DataFrame:
    """4 rows a household; one household in 20 churns (every row of it): a rare class by group."""
    frame = generate(households * 4, 7)
    number = np.arange(len(frame)) // 4
    return frame.assign(
        household=[f"H{n}" for n in number], churned=(number % 20 == 3).astype(int).astype(str)
    )


@pytest.mark.parametrize("test_size", [0.2, 0.3])
def test_a_stratified_group_split_keeps_groups_whole_and_the_rare_class_share(test_size: float) -> None:
    """By rows, a household's 4 rows fell in both parts; by group, none does, the rare class (5% of
    rows) is as common in test as in the table, and test holds about test_size of the rows."""
    frame = _rare_panel(1_000)
    train_part, test_part = split(frame, GROUPED, _params("stratified", test_size=test_size).split)
    assert len(train_part) + len(test_part) == len(frame)
    assert set(train_part.household).isdisjoint(test_part.household)
    for part in (train_part, test_part):
        assert abs((part.churned == "1").mean() - 0.05) < 0.005
    assert abs(len(test_part) / len(frame) - test_size) < 0.04  # 5 folds at 0.2, 3 at 0.3 (a third)


def test_the_fold_count_brings_one_fold_nearest_test_size() -> None:
    assert [fold_count(size, 1_000) for size in (0.5, 0.4, 0.3, 0.25, 0.2, 0.1, 0.7)] == [
        2,
        3,
        3,
        4,
        5,
        10,
        2,
    ]
    assert fold_count(0.1, 4) == 4  # no more folds than groups (or rows of the largest class)


def test_a_regression_group_split_holds_out_whole_groups() -> None:
    frame = _rare_panel(500).assign(churned=lambda f: f.monthly_charges * 1.5)
    train_part, test_part = split(frame, GROUPED, _params("stratified", "regression").split, "regression")
    assert set(train_part.household).isdisjoint(test_part.household)
    assert len(test_part) == 400  # GroupShuffleSplit holds out 20% of the 500 households


def _monthly_panel(households: int) -> pd.DataFrame:
    """Household h has 4 monthly rows from month h % 12: most households span any cut in time."""
    frame = generate(households * 4, 8)
    number = np.arange(len(frame)) // 4
    months = number % 12 + np.arange(len(frame)) % 4
    times = (
        pd.Timestamp("2026-01-01")
        + pd.to_timedelta(months * 30, unit="D")
        + pd.to_timedelta(number, unit="s")
    )
    return frame.assign(household=[f"H{n}" for n in number], event_time=times)


def test_a_time_group_split_puts_each_group_where_its_last_event_falls(tmp_path: Path, capsys) -> None:
    frame = _monthly_panel(600)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    parts = tmp_path / "train.parquet", tmp_path / "test.parquet"
    run(_params("time"), source=tmp_path / "validated.parquet", train_path=parts[0], test_path=parts[1])
    train_part, test_part = (pd.read_parquet(path) for path in parts)
    assert set(train_part.household).isdisjoint(test_part.household)
    last = frame.groupby("household").event_time.max()
    # test is the latest groups: no training row, nor any training group's end, after a test group's end
    assert last[train_part.household.unique()].max() <= last[test_part.household.unique()].min()
    assert train_part.event_time.max() <= last[test_part.household.unique()].min()
    earlier = int((test_part.event_time < train_part.event_time.max()).sum())
    assert earlier > 0  # a test group's first months precede the cut: the stage says how many
    assert len(test_part) == 480  # 120 of the 600 households (4 rows each): 0.2 of the rows
    said = capsys.readouterr().out
    assert said.startswith("split (time by group): 1920 train rows, 480 test rows: test holds 0.200 of")
    assert f"; {earlier} test row(s) precede the latest training event" in said


def test_a_time_group_split_is_by_last_event_not_the_file_order() -> None:
    frame = _monthly_panel(300)
    params = _params("time").split
    first = split(frame, GROUPED, params)
    again = split(frame.sample(frac=1, random_state=3), GROUPED, params)
    for part, other in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(part, other)


def test_a_stratified_group_split_and_its_model_are_the_same_bytes_twice(tmp_path: Path) -> None:
    """Same data and params, the file's rows in another order: the same parts and model, byte for byte."""
    frame = _rare_panel(300)
    xgboost = PARAMS.train.xgboost.model_copy(update={"n_estimators": 20})
    params = _params("stratified").model_copy(
        update={"train": PARAMS.train.model_copy(update={"xgboost": xgboost})}
    )
    outputs = []
    for name, rows in (("a", frame), ("b", frame.sample(frac=1, random_state=5))):
        root = tmp_path / name
        root.mkdir()
        rows.to_csv(root / "raw.csv", index=False)
        assert validate.run(params, source=root / "raw.csv", output=root / "v.parquet", report=None) == 0
        run(
            params,
            source=root / "v.parquet",
            train_path=root / "train.parquet",
            test_path=root / "test.parquet",
        )
        assert train.run(params, source=root / "train.parquet", model_dir=root / "models") == 0
        outputs.append(
            [(root / f).read_bytes() for f in ("train.parquet", "test.parquet", "models/model.ubj")]
        )
    assert outputs[0] == outputs[1]
    assert pd.read_parquet(tmp_path / "a" / "test.parquet").household.nunique() == 60  # 240 rows: 0.2
