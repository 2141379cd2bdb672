"""data.group_column: every row of one group (a customer's, a patient's, a firm's years) in one part."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlapp.errors import UserError
from mlapp.params import ParamsError, load_params
from mlapp.sample_data import generate
from mlapp.schema import raw_schema
from mlapp.stages.split import SplitError, run, split
from mlapp.stages.split_groups import stratified
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
GROUPED = PARAMS.data.model_copy(update={"group_column": "household"})


def _panel(rows: int, seed: int, first: int = 0) -> pd.DataFrame:
    """The sample table with 4 rows per household, as a panel has several rows per entity."""
    frame = generate(rows, seed, first_id=first * 4)
    return frame.assign(household=[f"H{first + i // 4}" for i in range(rows)])


@pytest.mark.parametrize("id_column", ["customer_id", None])
def test_rows_of_one_group_are_in_one_part(id_column: str | None) -> None:
    """Keyed by its row, a household's 4 rows fell in both parts (test scored households the model
    had trained on); keyed by the group, none does, and the share of test stays near test_size."""
    data = GROUPED.model_copy(update={"id_column": id_column})
    frame = _panel(2_000, 1).drop(columns=[] if id_column else ["customer_id"])
    train, test = split(frame, data, PARAMS.split)
    assert len(train) + len(test) == len(frame)
    assert set(train.household).isdisjoint(test.household)
    assert abs(len(test) / len(frame) - PARAMS.split.test_size) < 0.05


@pytest.mark.parametrize("id_column", ["customer_id", None])
def test_the_group_split_is_canonical_and_moves_no_old_row(id_column: str | None) -> None:
    """Same rows in another file order: the same parts, row for row; new households appended: no
    old row changes part."""
    data = GROUPED.model_copy(update={"id_column": id_column})
    old = _panel(1_000, 1).drop(columns=[] if id_column else ["customer_id"])
    new = _panel(400, 2, first=250).drop(columns=[] if id_column else ["customer_id"])
    train, test = split(old, data, PARAMS.split)
    shuffled = split(old.sample(frac=1, random_state=0), data, PARAMS.split)
    pd.testing.assert_frame_equal(train, shuffled[0])
    pd.testing.assert_frame_equal(test, shuffled[1])
    grown_test = split(pd.concat([new, old], ignore_index=True), data, PARAMS.split)[1]
    assert set(grown_test.household) & set(old.household) == set(test.household)
    assert set(grown_test.household) - set(old.household)  # new households are split too


def test_one_group_is_refused_naming_the_group_column_not_test_size(tmp_path: Path) -> None:
    """One household holds every row: no split.test_size can split it (the message said to change it)."""
    frame = _panel(40, 3).assign(household="H0")
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    for method in ("hash", "stratified"):
        split_params = PARAMS.split.model_copy(update={"method": method})
        params = PARAMS.model_copy(update={"data": GROUPED, "split": split_params})
        with pytest.raises(SplitError) as raised:
            run(
                params,
                source=tmp_path / "validated.parquet",
                train_path=tmp_path / "a",
                test_path=tmp_path / "b",
            )
        assert "all 40 rows are one group of data.group_column 'household'" in str(raised.value)
        assert "whatever split.test_size" in str(raised.value) and "change split.test_size" not in str(
            raised.value
        )


def test_a_part_left_without_a_class_by_few_groups_says_how_few(tmp_path: Path) -> None:
    frame = _panel(40, 3).assign(household=["H0"] * 20 + ["H1"] * 20)  # two households: all in one part
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    params = PARAMS.model_copy(update={"data": GROUPED})
    with pytest.raises(SplitError, match=r"these 40 rows hold 2 group\(s\) of data.group_column 'household'"):
        run(
            params, source=tmp_path / "validated.parquet", train_path=tmp_path / "a", test_path=tmp_path / "b"
        )


def _params_with(tmp_path: Path, data: dict, split: dict | None = None) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(data)
    raw["split"].update(split or {})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("method", ["stratified", "time"])
def test_a_stratified_or_time_split_with_a_group_column_loads(method: str, tmp_path: Path) -> None:
    """They were refused ("splits rows, not groups"): they now split by group (test_split_by_group.py)."""
    params = load_params(_params_with(tmp_path, {"group_column": "household"}, {"method": method}))
    assert (params.split.method, params.data.group_column) == (method, "household")


@pytest.mark.parametrize("column", ["churned", "customer_id"])
def test_the_group_column_is_not_the_label_nor_the_id(column: str, tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=f"data.group_column '{column}' is also data."):
        load_params(_params_with(tmp_path, {"group_column": column}))


def test_the_group_column_is_a_key_read_as_written_and_never_a_feature() -> None:
    frame = _panel(8, 4).assign(household=lambda f: f.household + " ")
    checked = raw_schema(GROUPED).validate(frame)
    assert list(checked.household.unique()) == ["H0 ", "H1 "]  # a key: not stripped
    clash = r"'tenure_months' is data\.group_column in params\.yaml and a feature"
    with pytest.raises(UserError, match=clash):
        raw_schema(GROUPED.model_copy(update={"group_column": "tenure_months"}))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_fold_held_out_keeps_every_class_when_one_does(seed: int) -> None:
    """Positives in 2 of 42 groups: the fold nearest the share held none of them (the split, or
    train's validation rows, then refused for a missing class) while the folds holding one were
    there to choose."""
    rows = 5000
    labels = (np.random.default_rng(seed).random(rows) < 0.2).astype(int)
    groups = np.arange(rows, dtype=np.uint64) % 40
    positives = np.flatnonzero(labels)
    groups[positives[::2]], groups[positives[1::2]] = 100, 101
    train, test = stratified(np.arange(rows), labels, groups, 0.2, seed)
    assert set(labels[train]) == set(labels[test]) == {0, 1}
    assert set(groups[train]).isdisjoint(groups[test])
    assert abs(len(test) / rows - 0.2) < 0.1  # whole groups: near the share, not at it


@pytest.mark.parametrize("method", ["stratified", "hash", "time"])
def test_a_class_of_one_group_is_refused_naming_the_group_column_not_test_size(
    method: str, tmp_path: Path
) -> None:
    """Every churner in one household: no split.test_size puts that class in both parts (the
    message said to change it), and train's hold-out would refuse it next with train.valid_size."""
    frame = _panel(400, 3).assign(churned=lambda f: (f.household == "H7").astype(int))
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    split_params = PARAMS.split.model_copy(update={"method": method})
    params = PARAMS.model_copy(update={"data": GROUPED, "split": split_params})
    with pytest.raises(SplitError) as raised:
        run(
            params, source=tmp_path / "validated.parquet", train_path=tmp_path / "a", test_path=tmp_path / "b"
        )
    said = str(raised.value)
    assert said.startswith("data.group_column 'household': class ['1'] has rows in 1 group only")
    assert f"(of the 100 groups of the 400 rows), and split.method {method} puts" in said
    assert "whatever split.test_size" in said and "change split.test_size" not in said
    assert "add rows of that class in more groups, or set data.group_column null to split rows" in said
    assert "train.valid_size" not in said and "validation" not in said  # train's words are train's
    assert not (tmp_path / "a").exists()
