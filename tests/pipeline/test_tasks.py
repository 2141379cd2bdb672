"""Binary, multiclass and regression through split, train, evaluate and the table checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlapp import model as model_io
from mlapp.cli import EXIT_ERROR, main
from mlapp.errors import UserError
from mlapp.params import load_params
from mlapp.serving import responses
from mlapp.stages import evaluate
from mlapp.stages.split import split
from mlapp.stages.train import class_names, train
from mlapp.stages.validate import ValidationFailed, validate_table
from tests.conftest import REPO
from tests.pipeline.task_tables import SEGMENTS, params_for, table

PARAMS = load_params(REPO / "params.yaml")
EXAMPLES = PARAMS.validate_.max_failure_examples  # 5: the messages below name five rows
# Fewer, shallower trees: these tests are about the task plumbing, not model quality.
FAST = PARAMS.train.model_copy(
    update={"xgboost": PARAMS.train.xgboost.model_copy(update={"n_estimators": 60, "max_depth": 3})}
)
TASKS = ("binary", "multiclass", "regression")


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    """As a CSV arrives: text, empty cells missing."""
    return frame.astype(str).replace({"nan": None, "None": None, "NaT": None})


@pytest.mark.parametrize("task", TASKS)
def test_training_is_byte_deterministic_per_task(task: str, tmp_path: Path) -> None:
    frame = table(task)
    for name in ("a", "b"):
        booster, spec = train(frame, "churned", FAST, task, examples=EXAMPLES)
        model_io.save(booster, spec, tmp_path / name)
    for file in (model_io.MODEL_FILE, model_io.SPEC_FILE):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    spec = model_io.load(tmp_path / "a").spec
    assert spec.task == task
    assert spec.classes == {"binary": ["0", "1"], "multiclass": SEGMENTS, "regression": []}[task]
    assert (spec.threshold is not None) == (task == "binary")


def test_each_task_predicts_its_own_shape_and_learns(tmp_path: Path) -> None:
    holdout = {task: table(task, 600, seed=11) for task in TASKS}
    for task in TASKS:
        booster, spec = train(table(task), "churned", FAST, task, examples=EXAMPLES)
        model = model_io.Model(booster, spec, "")
        scores = model.scores(holdout[task])
        y = spec.encode(holdout[task]["churned"], examples=EXAMPLES)
        if task == "multiclass":
            assert scores.shape == (600, 3) and np.allclose(scores.sum(axis=1), 1)
            assert (model.predict(holdout[task]) == y).mean() > 0.6  # chance is 1/3
        elif task == "regression":
            assert scores.shape == (600,)
            assert np.corrcoef(scores, y)[0, 1] > 0.8
        else:
            assert scores.shape == (600,) and set(np.unique(model.predict(holdout[task]))) <= {0, 1}


def test_two_classes_under_task_multiclass_train_and_score_both(tmp_path: Path) -> None:
    """Validate accepts two classes for task multiclass; train stopped with XGBoost's traceback
    "num_class should be greater equal to 1" (its classifier sets num_class only for three or more)."""
    frame = table("binary").assign(churned=lambda f: np.where(f["churned"] == 1, "up", "down"))
    booster, spec = train(frame, "churned", FAST, "multiclass", examples=EXAMPLES)
    scores = model_io.Model(booster, spec, "").scores(frame)
    assert spec.classes == ["down", "up"] and scores.shape == (len(frame), 2)
    assert np.allclose(scores.sum(axis=1), 1)


def test_declared_class_order_is_kept_and_numbers_sort_by_value() -> None:
    frame = table("multiclass")
    _, spec = train(frame, "churned", FAST, "multiclass", ["silver", "gold", "bronze"], examples=EXAMPLES)
    assert spec.classes == ["silver", "gold", "bronze"]
    assert class_names(pd.Series([10, 2, 2, 1]), None) == ["1", "2", "10"]
    assert class_names(pd.Series(["1.0", "2", None]), None) == ["1", "2"]  # a CSV's 1.0 is class 1
    assert class_names(pd.Series(["+1", "-1"]), None) == ["-1", "1"]  # "+1" too: 1 is the positive class
    with pytest.raises(UserError, match=r"column 'churned' failed one of the model's classes"):
        spec.encode(pd.Series(["platinum"], name="churned"), examples=EXAMPLES)


def test_class_names_that_are_codes_are_answered_as_written() -> None:
    """Classes "01", "02", "10" (zero-padded codes) were answered as the numbers 1, 2, 10: a label
    that no key of the answer's probabilities, /metadata's classes or the file's labels spelt so."""
    spec = model_io.ModelSpec([], {}, "grade", None, 0, "multiclass", ["01", "02", "10"])
    assert spec.class_values() == ["01", "02", 10]  # 10 is written as the number is: 10, key "10"
    scores = np.array([[0.2, 0.7, 0.1]])
    answered = json.loads(responses.answer(spec, scores, spec.decide(scores)))
    assert answered == [{"label": "02", "probabilities": {"01": 0.2, "02": 0.7, "10": 0.1}}]
    numbers = model_io.ModelSpec([], {}, "grade", None, 0, "multiclass", ["-1", "0", "10", str(2**63)])
    assert numbers.class_values() == [-1, 0, 10, str(2**63)]  # orjson writes no integer past int64


def test_labels_the_model_does_not_know_are_named_with_their_rows() -> None:
    """A model older than its labels (0/1 relabelled no/yes, a class renamed) met them in
    evaluate, train or the report as a bare ValueError with a traceback. It is one line naming
    the column, its distinct unknown values and their first rows, as validate names a value."""
    spec = model_io.ModelSpec([], {}, "churned", 0.5, 0, "binary", ["0", "1"])
    labels = pd.Series(["1", "no", "0", "yes", "no", None, "no", "no", "no"], name="churned")
    with pytest.raises(UserError) as raised:
        spec.encode(labels, examples=EXAMPLES)
    assert str(raised.value) == (
        "column 'churned' failed one of the model's classes ['0', '1']: 7 value(s), e.g. ['no', 'yes', "
        "None] at rows [1, 3, 4, 5, 6] (the model was trained on other labels: retrain it, "
        "`uv run dvc repro`)"
    )
    regression = model_io.ModelSpec([], {}, "price", None, 0, "regression", [])
    with pytest.raises(UserError) as raised:
        regression.encode(pd.Series([3.5, "cheap", 2], name="price"), examples=EXAMPLES)
    assert str(raised.value) == (
        "column 'price' failed parse as a number (a regression model's label): 1 value(s), e.g. "
        "['cheap'] at rows [1] (the model was trained on other labels: retrain it, `uv run dvc repro`)"
    )


def test_float_labels_that_are_not_all_whole_encode_as_their_classes() -> None:
    """Labels 1.0/1.5 are classes "1.0"/"1.5"; encode checked its text against the classes after
    reading it as labels again, where the text 1.0 is class "1": every 1.0 was "unknown"."""
    labels = pd.Series([1.0, 1.5, 1.0], name="churned")
    spec = model_io.ModelSpec([], {}, "churned", 0.5, 0, "binary", class_names(labels, None))
    assert spec.classes == ["1.0", "1.5"]
    assert spec.encode(labels, examples=EXAMPLES).tolist() == [0, 1, 0]


@pytest.mark.parametrize("examples", [EXAMPLES, 2])
def test_evaluate_on_labels_the_model_does_not_know_is_one_line(
    examples: int,
    reference_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real path to it: the export now writes the label no/yes, validate and split run again, and
    evaluate meets the model trained on 0/1. One error line, the metrics left as they were; it
    names as many rows as validate.max_failure_examples says (5 was fixed in the model's code)."""
    root = shutil.copytree(reference_project, tmp_path / "project")
    monkeypatch.chdir(root)
    yaml_text = (root / "params.yaml").read_text()
    setting = f"max_failure_examples: {EXAMPLES} "
    assert yaml_text.count(setting) == 1
    (root / "params.yaml").write_text(yaml_text.replace(setting, f"max_failure_examples: {examples} "))
    test_path = PARAMS.split.test
    test = pd.read_parquet(test_path)
    test["churned"] = test["churned"].astype(str).map({"0": "no", "1": "yes"})
    test.to_parquet(test_path, index=False)
    metrics = PARAMS.evaluate.metrics.read_bytes()

    monkeypatch.setattr("sys.argv", ["mlapp", "pipeline", "evaluate", "--no-mlflow"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == EXIT_ERROR
    shown = test["churned"].drop_duplicates().tolist()  # ['no', 'yes'] in the order met
    assert capsys.readouterr().err == (
        f"error: column 'churned' failed one of the model's classes ['0', '1']: {len(test)} value(s), "
        f"e.g. {shown} at rows {list(range(examples))} (the model was trained on other labels: retrain it, "
        "`uv run dvc repro`)\n"
    )
    assert PARAMS.evaluate.metrics.read_bytes() == metrics


@pytest.mark.parametrize("task", TASKS)
def test_split_without_an_id_ignores_row_order(task: str) -> None:
    frame = table(task, 1_200).drop(columns=["customer_id"])
    data = PARAMS.data.model_copy(update={"id_column": None})
    train_a, test_a = split(frame, data, PARAMS.split, task)
    train_b, test_b = split(frame.sample(frac=1, random_state=5), data, PARAMS.split, task)
    pd.testing.assert_frame_equal(test_a.reset_index(drop=True), test_b.reset_index(drop=True))
    pd.testing.assert_frame_equal(train_a.reset_index(drop=True), train_b.reset_index(drop=True))
    assert len(train_a) + len(test_a) == 1_200


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_writes_the_task_metrics_and_plots(task: str) -> None:
    frame = table(task)
    booster, spec = train(frame, "churned", FAST, task, examples=EXAMPLES)
    metrics, plots = evaluate.evaluate(
        model_io.Model(booster, spec, ""), table(task, 500, 12), PARAMS.evaluate, examples=EXAMPLES
    )
    expected = {
        "binary": {"roc_auc", "pr_auc", "log_loss", "threshold"},
        "multiclass": {"accuracy", "f1_macro", "f1_weighted", "log_loss", "per_class"},
        "regression": {"rmse", "mae", "r2"},
    }[task]
    assert expected <= set(metrics)
    assert set(plots) == set(evaluate.PLOT_FILES[task])
    json.dumps(metrics, allow_nan=False)  # committed as JSON: no NaN
    if task == "multiclass":
        assert {c["actual"] for c in plots["confusion"]} == set(SEGMENTS)
        assert set(metrics["per_class"]) == set(SEGMENTS)


def test_missing_labels_are_dropped_and_counted_or_fail() -> None:
    frame = _raw(table("multiclass", 400))
    frame.loc[[3, 9, 27], "churned"] = None
    params = params_for(PARAMS, "multiclass")
    validated, dropped = validate_table(frame, params)
    assert dropped == 3 and len(validated) == 397
    strict = params.model_copy(update={"data": params.data.model_copy(update={"missing_label": "fail"})})
    with pytest.raises(ValidationFailed) as failed:
        validate_table(frame, strict)
    assert [p.line() for p in failed.value.problems] == [
        "column 'churned' failed no missing labels (data.missing_label: fail): 3 value(s), "
        "e.g. [None] at rows [3, 9, 27]"
    ]


def _problems(frame: pd.DataFrame, params: object) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        validate_table(frame, params)  # type: ignore[arg-type]
    return [p.line() for p in failed.value.problems]


def test_table_checks_name_the_column() -> None:
    binary = _raw(table("binary", 400))
    assert _problems(binary.assign(total_charges=None), PARAMS) == [
        "column 'total_charges' failed not entirely empty (all 400 values missing; nothing to learn "
        "from: remove it from FEATURES (src/mlapp/schema.py) and list it in data.ignore_columns "
        "(params.yaml), or fill the column): 400 value(s)"
    ]
    assert (
        "column 'churned' failed both classes present for task binary (found 1: {'0': 400})"
        in (_problems(binary.assign(churned="0"), PARAMS)[0])
    )
    regression = params_for(PARAMS, "regression")
    assert _problems(_raw(table("regression", 400)).assign(churned="12.5"), regression) == [
        "column 'churned' failed not constant (every label is 12.5); a model learns from rows of more "
        "than one value: check that data.label (params.yaml) names the column to predict, or add rows "
        "of another value to the file: 400 value(s)"
    ]
    multiclass = params_for(PARAMS, "multiclass")
    few = _raw(table("multiclass", 400))
    few.loc[:3, "churned"] = "platinum"
    assert (
        "at least 10 rows per class (validate.min_class_rows; found {'platinum': 4}; "
        in (_problems(few, multiclass)[0])
    )


def test_null_share_threshold_and_its_per_column_override() -> None:
    frame = _raw(table("binary", 400)).assign(satisfaction_score="7.5")
    frame.loc[:239, "satisfaction_score"] = None  # 60% missing, nullable column
    assert _problems(frame, PARAMS) == [
        "column 'satisfaction_score' failed at most 50% missing "
        "(60.0% missing; validate.max_null_share): 240 value(s)"
    ]
    looser = PARAMS.validate_.model_copy(update={"max_null_share_by_column": {"satisfaction_score": 0.7}})
    validated, _ = validate_table(frame, PARAMS.model_copy(update={"validate_": looser}))
    assert validated["satisfaction_score"].isna().sum() == 240


def test_a_declared_class_without_rows_fails_validation() -> None:
    """A class in data.classes that the table never has cannot be learnt (train would fit fewer
    classes than the spec names, and evaluate would crash): validate says which class."""
    multiclass = params_for(PARAMS, "multiclass")
    declared = multiclass.data.model_copy(update={"classes": ["bronze", "platinum", "gold", "silver"]})
    problems = _problems(_raw(table("multiclass", 400)), multiclass.model_copy(update={"data": declared}))
    assert problems == [
        "column 'churned' failed at least 10 rows per class (validate.min_class_rows; found "
        "{'platinum': 0}; a class of data.classes without rows cannot be learnt): "
        "1 value(s), e.g. ['platinum']"
    ]


def test_a_binary_class_with_too_few_rows_fails_validation() -> None:
    """One churner in 400 rows cannot be split into train, early-stopping and test rows (the
    stratified split would crash): validate names the class, as for multiclass."""
    binary = _raw(table("binary", 400)).assign(churned="0")
    binary.loc[7, "churned"] = "1"
    assert _problems(binary, PARAMS) == [
        "column 'churned' failed at least 10 rows per class (validate.min_class_rows; found {'1': 1}; "
        "train, early stopping and test each need rows of every class: add rows of '1', or give its "
        "rows another class or remove them from the file): 1 value(s), e.g. ['1'] at rows [7]"
    ]


def test_a_label_of_the_other_kind_of_task_says_which_task_fits() -> None:
    """A quantity under task multiclass (a class per distinct number: 400 classes of one row)
    is one short line naming task regression, not every class; text labels under task
    regression name the class tasks."""
    quantity = _problems(_raw(table("regression", 400)), params_for(PARAMS, "multiclass"))
    assert len(quantity) == 1 and len(quantity[0]) < 400, quantity
    assert "found {'-20.18': 1, " in quantity[0] and ", … 393 more}" in quantity[0]
    assert "if the label is a quantity, set task: regression" in quantity[0]
    few = _raw(table("multiclass", 400))
    few.loc[:3, "churned"] = "platinum"  # a rare class of text: no regression hint
    assert "task: regression" not in _problems(few, params_for(PARAMS, "multiclass"))[0]
    text = _problems(_raw(table("multiclass", 400)), params_for(PARAMS, "regression"))
    assert len(text) == 1 and "a text label is a class: set task: binary or multiclass" in text[0], text


def test_a_placeholder_for_a_missing_regression_label_points_at_data_missing_label() -> None:
    """A '?' for an unknown price was told to 'make the column nullable in FEATURES', where the
    label never is: a missing label follows data.missing_label once missing_values reads it."""
    frame = _raw(table("regression", 400))
    frame.loc[41, "churned"] = "?"
    (line,) = _problems(frame, params_for(PARAMS, "regression"))
    assert line == (
        "column 'churned' failed parse as float64 ('?' names no value: if it marks a missing one, add "
        "it to data.missing_values (params.yaml): a row without a label is dropped or stops validate, "
        "as data.missing_label says): 1 value(s), e.g. ['?'] at rows [41]"
    )


def test_a_placeholder_label_outside_data_classes_points_at_data_missing_label() -> None:
    """A '?' label failing data.classes got the features' fix ('make the column nullable in
    FEATURES'): the label's own fix was patched in only where it failed to parse."""
    frame = _raw(table("binary", 400))
    frame.loc[41, "churned"] = "?"
    params = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"classes": ["0", "1"]})})
    (line,) = _problems(frame, params)
    assert line == (
        "column 'churned' failed isin(['0', '1']) ('?' names no value: if it marks a missing one, add "
        "it to data.missing_values (params.yaml): a row without a label is dropped or stops validate, "
        "as data.missing_label says): 1 value(s), e.g. ['?'] at rows [41]"
    )


def test_a_few_rows_of_one_class_are_not_taken_for_a_quantity() -> None:
    """Three rows, all class 1: one class is missing, not a quantity read as classes (a
    regression label of three rows would be "constant" there): no "1 classes: ... regression"."""
    few = _raw(table("binary", 400)).head(3).assign(churned="1")
    params = PARAMS.model_copy(update={"validate_": PARAMS.validate_.model_copy(update={"min_rows": 1})})
    assert _problems(few, params) == [
        "column 'churned' failed both classes present for task binary (found 1: {'1': 3}); a model "
        "learns from rows of more than one class: check that data.label (params.yaml) names the column "
        "to predict, or add rows of another class to the file: 3 value(s), e.g. ['1']"
    ]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_one_class_after_dropping_blank_labels_says_a_blank_may_be_the_other(task: str) -> None:
    """An export that writes the positives' label only (1, else blank): the blanks are dropped as
    unlabelled and one class is left. The refusal names the column, the count and the fix."""
    frame = _raw(table(task, 400))
    frame["churned"] = np.where(np.arange(400) % 4 == 0, "1", None)
    (line,) = _problems(frame, params_for(PARAMS, task))
    assert line.startswith("column 'churned' failed "), line
    assert "check that data.label (params.yaml) names the column to predict" in line, line
    assert (
        "300 row(s) without a label were left out (data.missing_label): if a blank means another class, "
        "write it in 'churned'" in line
    ), line


@pytest.mark.parametrize("task", TASKS)
def test_a_label_column_of_blanks_is_named_not_the_row_count(task: str) -> None:
    """Every label blank (the wrong column named, an export without it): every row is dropped as
    unlabelled, and "at least 100 rows (found 0; add rows, or lower validate.min_rows)" would send
    the user to the wrong fix. The label column is named, with its rows and data.label."""
    frame = _raw(table(task, 400)).assign(churned=None)
    assert _problems(frame, params_for(PARAMS, task)) == [
        "column 'churned' failed not entirely empty (all 400 labels missing; a model learns from "
        "labeled rows: check that data.label (params.yaml) names the column to predict, or fill it): "
        "400 value(s), e.g. [None] at rows [0, 1, 2, 3, 4]"
    ]


def test_a_repeated_id_says_data_group_column_is_for_an_entitys_rows() -> None:
    """Two rows per patient under data.id_column: the refusal names the id's rows and the setting a
    panel needs (the breast-cancer table with a patient id per two rows said only "values are unique")."""
    frame = _raw(table("binary", 400))
    frame["customer_id"] = [f"P{i // 2:04d}" for i in range(400)]
    (line,) = _problems(frame, PARAMS)
    start = "column 'customer_id' failed values are unique (data.id_column names one row each: "
    assert line.startswith(start), line
    assert "set data.group_column to it and data.id_column to a column unique per row, or null" in line, line
    rows = "400 value(s), e.g. ['P0000', 'P0000', 'P0001', 'P0001', 'P0002'] at rows [0, 1, 2, 3, 4]"
    assert line.endswith(rows), line


def test_a_label_column_the_file_lacks_is_named_as_data_label() -> None:
    """The label named in params.yaml is not in the file (a typo, another export): the line
    says which setting names it."""
    frame = _raw(table("binary", 400)).rename(columns={"churned": "Churned"})
    problems = _problems(frame, PARAMS)
    assert problems[0] == (
        "the table failed required column is present (the file has 'Churned' for 'churned' (case "
        "differs): rename the file's column, or the name in FEATURES / params.yaml) ('churned' is "
        "data.label in params.yaml): 1 value(s), e.g. ['churned']"
    )
    assert "'Churned'" in problems[1]  # the file's column, named by the unknown-column check
    missing_feature = _problems(_raw(table("binary", 400)).drop(columns=["age"]), PARAMS)
    assert (
        "present ('age' is a feature in FEATURES, src/mlapp/schema.py; if the data no longer has it, "
        "remove it there)" in missing_feature[0]
    )


def test_an_id_or_time_column_the_file_lacks_says_null_means_none() -> None:
    """`id_column: no` (YAML 1.1's false, meant as "none") is the text 'no' to YAML 1.2, as DVC
    reads it: a column the file lacks. The line says how to write "none"."""
    for setting in ("id_column", "time_column"):
        data = PARAMS.data.model_copy(update={setting: "no"})
        problems = _problems(_raw(table("binary", 400)), PARAMS.model_copy(update={"data": data}))
        assert (
            f"present ('no' is data.{setting} in params.yaml; if the table has none, write null)"
            in problems[0]
        ), problems


def test_a_table_too_small_is_one_line_without_a_value_count() -> None:
    """A whole-table check has no failing values to count ("1 value(s)" read as one bad cell), is
    said of the table (it read "column '<table>'"), and says what to do."""
    assert _problems(_raw(table("binary", 60)), PARAMS) == [
        "the table failed at least 100 rows (found 60; validate.min_rows: add rows, or lower "
        "validate.min_rows in params.yaml if these are all there are)"
    ]


@pytest.mark.parametrize(("task", "said"), [("regression", "r2 "), ("binary", "roc_auc ")])
def test_a_model_no_better_than_a_guess_on_test_is_pointed_out(
    task: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A heavy-tailed regression label (one -40,000 among -150..600) gave r2 -1.28 on test, and
    evaluate printed it among the other numbers without a word: worse than predicting the mean."""
    frame = table(task)
    model_io.save(*train(frame, "churned", FAST, task, examples=EXAMPLES), tmp_path / "model")
    label = frame["churned"]
    for flipped, expected in ((False, False), (True, True)):  # the relation turned round: a bad model
        test = frame.assign(churned=-label if task == "regression" else 1 - label) if flipped else frame
        test.to_parquet(tmp_path / "test.parquet")
        paths = {"metrics_path": tmp_path / "m.json", "plots_dir": tmp_path / "plots"}
        params = params_for(PARAMS, task)
        evaluate.run(params, model_dir=tmp_path / "model", test_path=tmp_path / "test.parquet",
                     **paths, log_to_mlflow=False)  # fmt: skip
        out = capsys.readouterr().out
        assert (f"note: {said}" in out and "no better than" in out) is expected, out
