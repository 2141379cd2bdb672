"""Train's validation rows with data.group_column: whole groups, as the split's test part is, on
both engines' hold-outs and `make tune`'s. By rows, a household's 4 rows fell on both sides, and
early stopping, the binary threshold and tune's scores judged households the fit had seen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from mlapp import tune
from mlapp.model import load
from mlapp.params import Params, load_params
from mlapp.stages import train as train_stage
from mlapp.stages.dask_parts import TooFewRows, holdouts
from mlapp.stages.split_checks import SplitError
from mlapp.stages.train import fit, holdout
from mlapp.tables import write_frame
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = load_params(REPO / "params.yaml")
EXAMPLES = PARAMS.validate_.max_failure_examples


def _panel(task: str, households: int = 300) -> pd.DataFrame:
    """4 rows a household, the household's rows apart in the file (as a table in id order has them)."""
    frame = table(task, households * 4, seed=5)
    return frame.assign(household=[f"H{n % households}" for n in range(len(frame))])


def _grouped(task: str, n_estimators: int = 20) -> Params:
    base = params_for(PARAMS, task)
    xgboost = base.train.xgboost.model_copy(update={"n_estimators": n_estimators})
    return base.model_copy(
        update={
            "data": base.data.model_copy(update={"group_column": "household"}),
            "train": base.train.model_copy(update={"xgboost": xgboost}),
        }
    )


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_validation_rows_are_whole_groups(task: str) -> None:
    frame = _panel(task)
    rows = holdout(frame, "churned", PARAMS.train, task, examples=EXAMPLES, group="household")
    assert set(rows.fit.household).isdisjoint(rows.valid.household)
    assert len(rows.fit) + len(rows.valid) == len(frame)
    assert abs(len(rows.valid) / len(frame) - PARAMS.train.valid_size) < 0.03  # whole groups: near it
    if task != "regression":  # stratified by group: every class on both sides
        assert (
            set(rows.y[rows.valid.index]) == set(rows.y[rows.fit.index]) == set(range(len(rows.spec.classes)))
        )
    again = holdout(frame, "churned", PARAMS.train, task, examples=EXAMPLES, group="household")
    pd.testing.assert_index_equal(again.valid.index, rows.valid.index)  # seeded: the same rows
    reseeded = PARAMS.train.model_copy(update={"seed": PARAMS.train.seed + 1})
    other = holdout(frame, "churned", reseeded, task, examples=EXAMPLES, group="household")
    assert not other.valid.index.equals(rows.valid.index)  # train.seed draws them


def test_without_a_group_column_the_rows_are_held_out_as_before() -> None:
    """The sample's model bytes depend on it: sklearn's stratified row split, train.seed."""
    frame = _panel("binary")
    rows = holdout(frame, "churned", PARAMS.train, "binary", examples=EXAMPLES)
    fit_at, valid_at = train_test_split(
        np.arange(len(frame)),
        test_size=PARAMS.train.valid_size,
        random_state=PARAMS.train.seed,
        stratify=rows.y.to_numpy(),
    )
    pd.testing.assert_index_equal(rows.valid.index, frame.index[valid_at])
    pd.testing.assert_index_equal(rows.fit.index, frame.index[fit_at])
    assert not set(rows.fit.household).isdisjoint(rows.valid.household)  # rows, not groups


def test_one_group_is_refused_naming_the_settings() -> None:
    frame = _panel("binary").assign(household="H0")
    with pytest.raises(
        SplitError, match=r"data.group_column 'household'.* 1 group\(s\).*train.valid_size 0.2"
    ):
        holdout(frame, "churned", PARAMS.train, "binary", examples=EXAMPLES, group="household")


def test_a_class_of_one_group_is_refused_naming_the_settings() -> None:
    """A class all of whose rows are one household cannot be on both sides."""
    frame = _panel("binary")
    frame["churned"] = (frame.household == "H7").astype(int)
    with pytest.raises(
        SplitError, match=r"data.group_column 'household': class \['1'\] has rows in 1 group only"
    ) as refused:
        holdout(frame, "churned", PARAMS.train, "binary", examples=EXAMPLES, group="household")
    assert "more groups" in str(refused.value)
    assert "in fit or validation" in str(refused.value) and "whatever train.valid_size" in str(refused.value)
    assert "split.test_size" not in str(refused.value)  # the split stage's words are its own
    assert "raise train.valid_size" not in str(refused.value)  # no share held out puts it on both sides
    codes = frame.churned.to_numpy()  # the Dask engine's hold-out: the same groups, the same words
    with pytest.raises(SplitError, match=r"class \['1'\] has rows in 1 group only"):
        holdouts(frame.churned, codes, ["0", "1"], [400, 400, 400], PARAMS.train, frame.household, 2)


def test_the_train_stage_holds_out_groups(tmp_path: Path) -> None:
    """The stage reads data.group_column from the training part: its model is the grouped hold-out's."""
    params = _grouped("binary")
    frame = _panel("binary")
    write_frame(frame, source := tmp_path / "train.parquet")
    assert train_stage.run(params, source=source, model_dir=tmp_path / "models") == 0
    rows = holdout(frame, "churned", params.train, "binary", examples=EXAMPLES, group="household")
    booster, spec = fit(rows, params.train)
    stored = load(tmp_path / "models")
    assert stored.spec.threshold == spec.threshold
    assert bytes(stored.booster.save_raw("ubj")) == bytes(booster.save_raw("ubj"))


@pytest.mark.usefixtures("mlflow_store")
def test_tune_scores_the_grouped_validation_rows(tmp_path: Path) -> None:
    """Trial 0 (params.yaml's values) scores the train stage's grouped validation rows."""
    grouped = _grouped("binary")
    params = grouped.model_copy(update={"tune": grouped.tune.model_copy(update={"trials": 1})})
    frame = _panel("binary")
    write_frame(frame, source := tmp_path / "train.parquet")
    result = tune.search(params, source)
    rows = holdout(frame, "churned", params.train, "binary", examples=EXAMPLES, group="household")
    assert result.current_value == tune.score(params, rows, {})[0]


def test_the_dask_partitions_hold_out_the_local_engines_groups() -> None:
    """Drawn over the whole table, as the local engine draws them: each partition keeps its rows
    of either side, and no household is on both."""
    frame = _panel("binary")
    local = holdout(frame, "churned", PARAMS.train, "binary", examples=EXAMPLES, group="household")
    codes = local.y.to_numpy()
    held = holdouts(frame.churned, codes, ["0", "1"], [400, 400, 400], PARAMS.train, frame.household, 2)
    fit_at, valid_at = (np.concatenate(side) for side in zip(*held, strict=True))
    np.testing.assert_array_equal(np.sort(valid_at), local.valid.index.to_numpy())
    assert set(frame.household.iloc[fit_at]).isdisjoint(frame.household.iloc[valid_at])
    for number, (part_fit, part_valid) in enumerate(held):
        assert ((part_fit >= 400 * number) & (part_fit < 400 * (number + 1))).all()
        assert ((part_valid >= 400 * number) & (part_valid < 400 * (number + 1))).all()


def test_a_dask_worker_without_validation_rows_is_refused() -> None:
    """10 workers, each a 4-row partition of one household: 2 households are held out, and the
    other 8 workers would have no validation rows (XGBoost fails on an empty matrix)."""
    frame = table("regression", 40, seed=5).assign(household=[f"H{n // 4:02d}" for n in range(40)])
    codes = frame.churned.to_numpy()
    with pytest.raises(TooFewRows, match=r"data.group_column 'household'.*train.valid_size 0.2.*without"):
        holdouts(frame.churned, codes, None, [4] * 10, PARAMS.train, frame.household, 10)
