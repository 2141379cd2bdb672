from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlapp.errors import UserError
from mlapp.params import DataParams, ParamsError, load_params
from mlapp.sample_data import generate
from mlapp.stages.split import SplitError, in_test, row_hashes, run, split
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def test_stratified_split_is_disjoint_seeded_and_balanced() -> None:
    frame = generate(4_000, 1)
    params = PARAMS.split.model_copy(update={"method": "stratified"})
    train, test = split(frame, PARAMS.data, params)
    assert set(train.customer_id).isdisjoint(test.customer_id)
    assert len(train) + len(test) == len(frame)
    assert abs(len(test) / len(frame) - PARAMS.split.test_size) < 0.01
    assert abs(train.churned.mean() - test.churned.mean()) < 0.01
    # Row order of the input must not change the result.
    shuffled = frame.sample(frac=1, random_state=0)
    _, test2 = split(shuffled, PARAMS.data, params)
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


def test_a_split_that_cannot_write_both_parts_keeps_the_previous_pair(tmp_path: Path) -> None:
    """DVC keeps the parts of a split that fails (persist): a new train file beside the old test
    file would be a pair no split wrote, the test rows maybe trained on."""
    generate(200, 2).to_parquet(tmp_path / "validated.parquet", index=False)
    train, test = tmp_path / "train.parquet", tmp_path / "parts" / "test.parquet"
    train.write_bytes(b"the previous train part")
    (tmp_path / "parts").write_text("a file where the test part's folder goes")
    with pytest.raises(UserError, match=rf"cannot write {test}"):
        run(PARAMS, source=tmp_path / "validated.parquet", train_path=train, test_path=test)
    assert train.read_bytes() == b"the previous train part"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts", "train.parquet", "validated.parquet"]


def test_a_regression_split_does_not_claim_to_be_stratified(tmp_path: Path, capsys) -> None:
    frame = generate(200, 2).assign(churned=lambda f: f["monthly_charges"] * 1.5)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    params = PARAMS.model_copy(
        update={"task": "regression", "split": PARAMS.split.model_copy(update={"method": "stratified"})}
    )
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


def _ids(frame: pd.DataFrame, data: DataParams) -> pd.Series:
    """Each row's identity: its id, or (no id column) its content hash."""
    return pd.Series(row_hashes(frame, data)) if data.id_column is None else frame[data.id_column]


def _test_ids(frame: pd.DataFrame, data: DataParams) -> set:
    return set(_ids(split(frame, data, PARAMS.split)[1], data))


@pytest.mark.parametrize("id_column", ["customer_id", None])
def test_appending_or_removing_rows_moves_no_other_row_between_train_and_test(
    id_column: str | None,
) -> None:
    """The default split (method hash): a retrained model's test rows were never training rows
    of the model trained before rows were appended, so the retraining PR's report compares like
    with like. A stratified split of the grown table moves some of them (it splits anew)."""
    assert PARAMS.split.method == "hash"
    data = PARAMS.data.model_copy(update={"id_column": id_column})
    old = generate(4_000, 1).drop(columns=[] if id_column else ["customer_id"])
    new = generate(1_000, 2, first_id=4_000).drop(columns=[] if id_column else ["customer_id"])
    old_test, old_ids = _test_ids(old, data), set(_ids(old, data))

    grown_test = _test_ids(pd.concat([new, old], ignore_index=True), data)
    assert grown_test & old_ids == old_test
    assert grown_test - old_ids  # the new rows are split too: some of them are test rows

    kept = old.sample(n=3_000, random_state=3)
    assert _test_ids(kept, data) == old_test & set(_ids(kept, data))


def test_the_hash_split_takes_about_test_size_and_each_class_alike() -> None:
    """Shares equal only in expectation; on these fixed 4,000 rows (a binomial standard
    deviation of 25 rows, 0.6%) within 2 points, deterministically."""
    frame = generate(4_000, 1)
    train, test = split(frame, PARAMS.data, PARAMS.split)
    assert set(train.customer_id).isdisjoint(test.customer_id)
    assert len(train) + len(test) == len(frame)
    assert abs(len(test) / len(frame) - PARAMS.split.test_size) < 0.02
    assert abs(train.churned.mean() - test.churned.mean()) < 0.02
    other_seed = split(frame, PARAMS.data, PARAMS.split.model_copy(update={"seed": 7}))[1]
    assert len(set(other_seed.customer_id) & set(test.customer_id)) < len(test) / 2


def test_rows_with_the_same_inputs_share_a_part_whatever_their_labels(tmp_path: Path) -> None:
    """A table without an id whose inputs repeat with both labels (a Titanic table: 1,316 rows of
    12 inputs). Keyed by the label too, an input's survivors went to test and its deaths stayed in
    train: every test row's label was the opposite of what training saw (ROC AUC 0.0)."""
    data = PARAMS.data.model_copy(update={"id_column": None})
    inputs = generate(40, 3).drop(columns=["customer_id"])
    frame = pd.concat([inputs.assign(churned=label) for label in (0, 0, 1)], ignore_index=True)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    train_path, test_path = tmp_path / "train.parquet", tmp_path / "test.parquet"
    run(
        PARAMS.model_copy(update={"data": data}),
        source=tmp_path / "validated.parquet",
        train_path=train_path,
        test_path=test_path,
    )
    features = [c for c in frame.columns if c != "churned"]
    parts = [pd.read_parquet(path) for path in (train_path, test_path)]
    in_train, in_test_part = ({tuple(row) for row in part[features].astype(str).to_numpy()} for part in parts)
    assert in_test_part and in_train.isdisjoint(in_test_part)
    assert all(len(part) % 3 == 0 and part["churned"].astype(int).sum() * 3 == len(part) for part in parts)
    in_memory = split(frame, data, PARAMS.split)[1]  # the in-memory split keys rows alike
    assert len(in_memory) and in_memory["churned"].astype(int).sum() * 3 == len(in_memory)


def test_rows_of_one_input_are_refused_for_what_they_are_not_for_test_size(tmp_path: Path) -> None:
    """Every row the same inputs: keyed by them, all rows go to one part whatever test_size (the
    message said to change it); the cause is the table, a classification or regression one alike."""
    one_input = generate(1, 3).drop(columns=["customer_id"])
    frame = pd.concat([one_input.assign(churned=label) for label in (0, 1) * 10], ignore_index=True)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    params = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"id_column": None})})
    for task in ("binary", "regression"):
        with pytest.raises(SplitError) as raised:
            run(
                params.model_copy(update={"task": task}),
                source=tmp_path / "validated.parquet",
                train_path=tmp_path / "a",
                test_path=tmp_path / "b",
            )
        said = str(raised.value)
        assert said.startswith("all 20 rows have the same inputs (every feature constant: nothing to learn)")
        assert "whatever split.test_size" in said and "change split.test_size" not in said
    assert not (tmp_path / "a").exists()


def test_a_part_left_empty_by_repeated_inputs_says_how_few_there_are(tmp_path: Path) -> None:
    inputs = generate(2, 5).drop(columns=["customer_id"])  # both inputs hash into train
    frame = pd.concat([inputs.assign(churned=label) for label in (0, 1) * 10], ignore_index=True)
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    params = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"id_column": None})})
    with pytest.raises(
        SplitError, match=r"these 40 rows hold 2 distinct input\(s\)\): the \w+ part \(0 rows\)"
    ):
        run(
            params, source=tmp_path / "validated.parquet", train_path=tmp_path / "a", test_path=tmp_path / "b"
        )


def test_the_hash_split_is_the_same_bytes_whatever_the_row_order(tmp_path: Path) -> None:
    frame = generate(2_000, 4)
    outputs = []
    for name, rows in (("a", frame), ("b", frame.sample(frac=1, random_state=2))):
        rows.to_parquet(tmp_path / f"{name}.parquet", index=False)
        parts = (tmp_path / f"{name}-train.parquet", tmp_path / f"{name}-test.parquet")
        run(PARAMS, source=tmp_path / f"{name}.parquet", train_path=parts[0], test_path=parts[1])
        outputs.append([path.read_bytes() for path in parts])
    assert outputs[0] == outputs[1]


def test_a_class_the_hash_split_leaves_out_of_test_is_a_clear_error(tmp_path: Path) -> None:
    """Ten churners that all hash into train (chosen so: the id alone decides the part)."""
    frame = generate(300, 2).assign(churned=0)
    frame.loc[np.flatnonzero(~in_test(row_hashes(frame, PARAMS.data), PARAMS.split))[:10], "churned"] = 1
    frame.to_parquet(tmp_path / "validated.parquet", index=False)
    with pytest.raises(
        SplitError,
        match=r"split.method hash: the test part \(\d+ rows\) has no rows of class \['1'\]; add rows of "
        r"that class, use split.method stratified \(.*\), or change split\.test_size$",
    ):
        run(
            PARAMS,
            source=tmp_path / "validated.parquet",
            train_path=tmp_path / "train.parquet",
            test_path=tmp_path / "test.parquet",
        )


def test_a_regression_hash_split_takes_the_rows_a_binary_one_takes() -> None:
    """The part depends on the key and the seed, never on the label."""
    frame = generate(500, 5)
    regression = frame.assign(churned=frame["monthly_charges"] * 1.5)
    binary_test = split(frame, PARAMS.data, PARAMS.split)[1]
    regression_test = split(regression, PARAMS.data, PARAMS.split, "regression")[1]
    assert list(regression_test.customer_id) == list(binary_test.customer_id)


def test_a_stratified_split_too_small_for_its_classes_is_a_clear_error(tmp_path: Path) -> None:
    """5 rows of 2 classes at test_size 0.2 leave 1 test row for 2 classes: sklearn's ValueError
    (test_size = 1 ... number of classes = 2) was a traceback; the split names the setting."""
    frame = generate(5, 2).assign(churned=[0, 0, 0, 1, 1])
    params = PARAMS.split.model_copy(update={"method": "stratified"})
    with pytest.raises(SplitError, match=r"split\.test_size 0\.2 of 5 rows: 1 test row\(s\) for 2 classes"):
        split(frame, PARAMS.data, params)


def test_a_class_of_one_row_cannot_be_stratified_and_is_named(tmp_path: Path) -> None:
    """validate.min_class_rows 1 lets a one-row class through: a stratified split needs two."""
    frame = generate(300, 2).assign(churned=["a"] * 299 + ["rare"])
    params = PARAMS.split.model_copy(update={"method": "stratified"})
    with pytest.raises(SplitError, match=r"class \['rare'\] has 1 row.*validate\.min_class_rows"):
        split(frame, PARAMS.data, params, "multiclass")


@pytest.mark.parametrize(("engine", "least"), [("local", 3), ("dask", 2)])
def test_a_min_class_rows_no_table_can_train_with_is_refused(engine: str, least: int, tmp_path: Path) -> None:
    """A class needs a row in test and one in train, and the local engine's stratified holdout a
    second training row: a class of fewer rows passed validate and stopped at split or train."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"]["engine"] = engine
    path = tmp_path / "params.yaml"
    for rows in range(1, least):
        raw["validate"]["min_class_rows"] = rows
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ParamsError) as refused:
            load_params(path)
        assert str(refused.value) == (
            f"{path} is invalid: validate.min_class_rows {rows} lets through a class that cannot be split "
            f"and trained on (train.engine {engine}): set it to at least {least}"
        )
    raw["validate"]["min_class_rows"] = least
    path.write_text(yaml.safe_dump(raw))
    assert load_params(path).validate_.min_class_rows == least
