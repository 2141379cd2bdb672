import numpy as np
import pandas as pd
import pytest

from mlapp import model as model_io
from mlapp.errors import UserError
from mlapp.params import Task, load_params
from mlapp.sample_data import generate
from mlapp.stages import train as train_stage
from mlapp.stages.train import train
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
EXAMPLES = PARAMS.validate_.max_failure_examples


@pytest.fixture(scope="module")
def frame():
    return generate(3_000, 9)


@pytest.fixture(scope="module")
def trained(frame):
    """The params' training on ``frame``, once for the tests that only use its result."""
    return train(frame, "churned", PARAMS.train, examples=EXAMPLES)


def test_training_is_byte_deterministic(frame, trained, tmp_path) -> None:
    model_io.save(*trained, tmp_path / "a")
    model_io.save(
        *train(frame, "churned", PARAMS.train, examples=EXAMPLES), tmp_path / "b"
    )  # a second training
    for file in (model_io.MODEL_FILE, model_io.SPEC_FILE):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_saved_model_round_trips_without_pickle(frame, trained, tmp_path) -> None:
    model_io.save(*trained, tmp_path)
    loaded = model_io.load(tmp_path)
    proba = loaded.predict_proba(frame)
    assert proba.shape == (len(frame),)
    assert np.all((proba >= 0) & (proba <= 1))
    assert 0 < loaded.spec.threshold < 1
    assert loaded.version == model_io.model_sha256(tmp_path)[:12]
    # The artifact folder holds only XGBoost's native file and JSON: nothing to unpickle.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model_io.MODEL_FILE, model_io.SPEC_FILE])


def test_unknown_category_at_predict_time_is_treated_as_missing(frame, trained) -> None:
    model = model_io.Model(*trained, "0" * 64)
    odd = frame.head(5).assign(contract="lifetime")
    assert np.isfinite(model.predict_proba(odd)).all()


def test_fixed_threshold_is_used(frame) -> None:
    params = PARAMS.train.model_copy(update={"threshold_metric": "fixed", "fixed_threshold": 0.37})
    _, spec = train(frame, "churned", params, examples=EXAMPLES)
    assert spec.threshold == 0.37


def test_model_learns_signal(trained) -> None:
    from sklearn.metrics import roc_auc_score

    holdout = generate(2_000, 10)
    proba = model_io.Model(*trained, "").predict_proba(holdout)
    assert roc_auc_score(holdout["churned"], proba) > 0.7


def test_missing_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="make run"):
        model_io.load(tmp_path)


def test_a_nullable_boolean_feature_is_1_0_or_missing(frame, trained) -> None:
    """pandas' nullable boolean (validate's type for pa.Column("boolean", nullable=True)) and the
    same values as objects with None (an MLflow pyfunc input) score as 1/0/NaN, as the service
    encodes them; objects were refused by XGBoost."""
    model = model_io.Model(*trained, "0" * 64)
    rows = frame.head(3)
    floats = model.predict_proba(rows.assign(paperless_billing=[1.0, np.nan, 0.0]))
    typed = rows.assign(paperless_billing=pd.array([True, pd.NA, False], dtype="boolean"))
    np.testing.assert_array_equal(model.predict_proba(typed), floats)
    np.testing.assert_array_equal(
        model.predict_proba(rows.assign(paperless_billing=[True, None, False])), floats
    )


@pytest.mark.parametrize(("declared", "said"), [(None, True), (["ok", "fraud"], False)])
def test_a_majority_positive_class_by_sort_order_is_pointed_out(
    frame, tmp_path, capsys, declared, said
) -> None:
    """Text labels sort: with "fraud"/"ok" the positive class was "ok" (99% of rows) without a word,
    and precision, recall, pr_auc and the threshold were all about the wrong class."""
    table = frame.assign(churned=np.where(frame["churned"] == 1, "fraud", "ok"))
    source = tmp_path / "train.parquet"
    table.to_parquet(source)
    data = PARAMS.data.model_copy(update={"classes": declared})
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 5})
    params = PARAMS.model_copy(
        update={"data": data, "train": PARAMS.train.model_copy(update={"xgboost": xgb})}
    )
    assert train_stage.run(params, source=source, model_dir=tmp_path / "models") == 0
    out = capsys.readouterr().out
    assert ("the positive class is 'ok', " in out) is said
    assert ("set data.classes: [ok, fraud]" in out) is said


@pytest.mark.parametrize("labels", [(0, 1), (False, True)])
def test_labels_naming_their_positive_class_get_no_word(frame, tmp_path, capsys, labels) -> None:
    """1 (true) is the positive class by what the label says, not by sort order: a table where it
    is the majority (a balanced 0/1 table, 50.1% ones) was told to consider data.classes: [1, 0]."""
    table = frame.assign(churned=np.where(frame["churned"] == 1, *labels))  # ones now the majority
    source = tmp_path / "train.parquet"
    table.to_parquet(source)
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 5})
    params = PARAMS.model_copy(update={"train": PARAMS.train.model_copy(update={"xgboost": xgb})})
    assert train_stage.run(params, source=source, model_dir=tmp_path / "models") == 0
    assert "note:" not in capsys.readouterr().out


@pytest.mark.parametrize(("n_estimators", "said"), [(5, True), (400, False)])
def test_a_model_that_used_every_tree_says_the_cap_stopped_it(
    frame, tmp_path, capsys, n_estimators, said
) -> None:
    """On a 200,000-row table all three tasks kept all 400 trees: early stopping never fired and
    the cap, not the data, ended training, without a word. (The sample stops early.)"""
    source = tmp_path / "train.parquet"
    frame.to_parquet(source)
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": n_estimators})
    params = PARAMS.model_copy(update={"train": PARAMS.train.model_copy(update={"xgboost": xgb})})
    assert train_stage.run(params, source=source, model_dir=tmp_path / "models") == 0
    out = capsys.readouterr().out
    assert (f"every tree up to train.xgboost.n_estimators ({n_estimators}) still improved" in out) is said, (
        out
    )


def test_a_class_of_one_training_row_is_a_clear_error_not_a_traceback(frame) -> None:
    """The hold-out for early stopping is stratified: a class with one training row (a 3-row
    class split 1/2 by a hash split) made sklearn raise a bare ValueError."""
    rows = frame.assign(churned=["a"] * (len(frame) - 1) + ["rare"])
    with pytest.raises(UserError, match=r"class \['rare'\] has 1 row.*train\.valid_size"):
        train(rows, "churned", PARAMS.train, "multiclass", examples=EXAMPLES)


def test_too_few_training_rows_for_the_hold_out_is_a_clear_error(frame) -> None:
    rows = frame.head(4).assign(churned=[0, 0, 1, 1])
    with pytest.raises(
        UserError, match=r"train\.valid_size 0\.2 of 4 rows: 1 validation row\(s\) for 2 classes"
    ):
        train(rows, "churned", PARAMS.train, examples=EXAMPLES)


def test_a_validation_part_without_a_class_is_a_clear_error(frame) -> None:
    """A stratified hold-out of a class of 2 rows in 24 can give validation none of them (sklearn
    rounds 0.4 rows down): early stopping and the threshold were then chosen on negatives alone
    (1 tree, sklearn's "No positive class found" warning, ROC AUC 0.5 on test)."""
    rows = frame.head(24).assign(churned=[1, 1] + [0] * 22)
    with pytest.raises(
        UserError,
        match=r"train\.valid_size 0\.2 of 24 rows: the validation part \(5 rows\) has no rows of class "
        r"\['1'\]; early stopping \(and a binary threshold\) is judged on it: add rows of that class, or "
        r"raise train\.valid_size$",
    ):
        train(rows, "churned", PARAMS.train, examples=EXAMPLES)


@pytest.mark.parametrize(("rows", "task"), [(0, "binary"), (1, "regression"), (0, "regression")])
def test_a_training_part_the_hold_out_leaves_no_row_of_is_a_clear_error(frame, rows: int, task: Task) -> None:
    """`mlapp pipeline train --input` of an empty (or one-row) table was sklearn's "With
    n_samples=0 ... the resulting train set will be empty" traceback."""
    with pytest.raises(
        UserError, match=rf"train\.valid_size 0\.2 of {rows} rows holds out {rows}, leaving no row"
    ):
        train(frame.head(rows), "churned", PARAMS.train, task, examples=EXAMPLES)  # type: ignore[arg-type]
