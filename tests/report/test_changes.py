"""What changed between base and PR, and the warnings that change what a comparison means."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.errors import ParamsError
from mlapp.report import caveats, changes, compare, markdown

BASE_PARAMS = """
train:
  seed: 42            # a comment
  xgboost: {max_depth: 5, n_estimators: 400}
gate: {primary_metric: roc_auc, min_primary: 0.75, max_regression: 0.005, require_significant: true}
"""


def test_params_diff_ignores_comments_and_lists_changed_added_removed_keys() -> None:
    assert changes.params_diff(BASE_PARAMS, BASE_PARAMS.replace("# a comment", "# another")) == []
    pr = BASE_PARAMS.replace("max_depth: 5", "max_depth: 3").replace("  seed: 42", "  seed: 42\n  extra: x")
    pr = pr.replace(", n_estimators: 400", "")
    assert changes.params_diff(BASE_PARAMS, pr) == [
        {"key": "train.extra", "base": None, "pr": "x"},
        {"key": "train.xgboost.max_depth", "base": 5, "pr": 3},
        {"key": "train.xgboost.n_estimators", "base": 400, "pr": None},
    ]
    assert changes.params_diff(None, "a: 1") == [{"key": "a", "base": None, "pr": 1}]


def test_params_are_read_as_mlapp_and_dvc_read_them() -> None:
    """The report read params.yaml with PyYAML's own rules: 400 -> 4e2 was a change in the PR
    comment while mlapp and DVC read 400 both times; 0012 was 10 (octal) to it, 12 to DVC."""
    for spelt in ("4e2", "400.0", "0400"):
        assert (
            changes.params_diff(
                BASE_PARAMS, BASE_PARAMS.replace("n_estimators: 400", f"n_estimators: {spelt}")
            )
            == []
        )
    assert changes.params_value("a: 0012", "a") == 12


def test_a_key_written_twice_is_refused_naming_it_not_read_silently() -> None:
    twice = BASE_PARAMS.replace("  seed: 42", "  seed: 42\n  seed: 7")
    with pytest.raises(ParamsError, match=r"train\.seed is written twice, on line 3 \(42\) and line 4 \(7\)"):
        changes.params_diff(BASE_PARAMS, twice)
    with pytest.raises(ParamsError, match=r"^the base's params.yaml is not valid YAML: "):
        changes.params_value("a: [", "a")


def test_gate_section_and_dvc_md5_read_committed_files() -> None:
    assert changes.gate_section(BASE_PARAMS) == {
        "primary_metric": "roc_auc",
        "min_primary": 0.75,
        "max_regression": 0.005,
        "require_significant": True,
    }
    assert changes.gate_section("train: {}") is None and changes.gate_section(None) is None
    assert changes.dvc_md5("outs:\n- md5: abc.dir\n  path: data\n") == "abc.dir"
    assert changes.dvc_md5(None) is None


def frame(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "churned": [i % 2 for i in range(len(ids))]})


def test_row_overlap_finds_test_rows_the_champion_trained_on() -> None:
    overlap = changes.row_overlap(
        frame(["a", "b", "c"]), frame(["d", "e"]), frame(["b", "d", "f"]), "customer_id"
    )
    assert overlap.as_dict() == {"pr_test_rows": 3, "in_base_test": 1, "in_base_train": 1}


def test_the_same_rows_are_known_on_the_columns_both_hold_alike() -> None:
    base = pd.DataFrame({"id": ["a", "b"], "gone": [1, 2], "retyped": [0, 3], "y": [0, 1]})
    pr = base.drop(columns="gone").assign(retyped=["none", "many"])
    assert changes.same_rows(base, pr)
    assert not changes.same_rows(base, pr.iloc[::-1])  # other order
    assert not changes.same_rows(base, pr.assign(y=[1, 1]))
    assert changes.row_overlap(base, base, pr, None).as_dict() == {
        "pr_test_rows": 2,
        "in_base_test": 2,
        "in_base_train": 2,
    }


def said(**overrides: Any) -> list[str]:
    facts: dict[str, Any] = {
        "data_md5": ("x.dir", "x.dir"),
        "changed_params": ["train.xgboost.max_depth"],
        "same_training_rows": True,
        "same_split": False,
        "overlap": changes.RowOverlap(100, 100, 0),
        "on_base_copy": False,
        "changed_files": [],
        "champion_matches_lock": True,
        "champion_rebuilt": True,
        "pr_pipeline_stale": [],
        "lock_uncommitted": False,
    }
    return caveats.warnings(**{**facts, **overrides})


def test_a_like_for_like_comparison_has_no_warnings() -> None:
    assert said() == []
    assert said(changed_files=["uv.lock"], champion_rebuilt=False) == []  # restored, not rebuilt


def test_a_data_file_whose_rows_were_only_reordered_is_not_called_new_data() -> None:
    """The same table with its rows shuffled: the split sorts them back, so both parts hold the
    base's rows, yet the warning said the PR's model learnt from "the base's training rows, alike in
    the columns both hold (the file differs in others)" and was scored on "the new data"."""
    table = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5], "y": ["a", "b", "a"]})
    assert changes.same_table(table, table.copy())
    assert not changes.same_table(table, table[["x", "id", "y"]])  # the same values, columns moved
    assert not changes.same_table(table, table.astype({"x": str}))  # a retyped column
    assert not changes.same_table(table, table.iloc[::-1])  # the rows in another order
    assert said(data_md5=("aaaaaaaa1.dir", "bbbbbbbb2.dir"), same_split=True) == [
        "The data file changed (`data.dvc` `aaaaaaaa` -> `bbbbbbbb`), but not the rows: the training and "
        "test rows are the base's, alike in every column (the file's rows reordered, or written out anew)."
    ]


def test_each_fact_that_changes_the_meaning_is_said() -> None:
    assert said(data_md5=("aaaaaaaa1.dir", "bbbbbbbb2.dir"))[0].startswith(
        "Data changed (`data.dvc` `aaaaaaaa` -> `bbbbbbbb`)"
    )
    new_data = ("aaaaaaaa1.dir", "bbbbbbbb2.dir")
    assert "learnt from different rows" in said(data_md5=new_data, same_training_rows=False)[0]
    # a column removed from the data (same rows, by id): not "different rows"
    assert (
        "learnt from the base's training rows, alike in the columns both hold" in said(data_md5=new_data)[0]
    )
    assert "does better on the new data" in said(data_md5=new_data)[0]
    # a base model scored on its copy of the rows: the PR's new rows, without a copy, are not compared
    assert "which model does better on those rows" in said(data_md5=new_data, on_base_copy=True)[0]
    assert "training rows differ" in said(same_training_rows=False)[0]
    split = said(changed_params=["split.seed", "train.seed"], same_training_rows=False)
    assert split[0].startswith("Params that define the rows changed (`split.seed`)")
    assert "training rows differ" in split[1]
    # data.ignore_columns with an id moves no row: the params table shows it, no warning claims so
    assert said(changed_params=["data.ignore_columns"]) == []
    moved = said(overlap=changes.RowOverlap(100, 60, 25))
    assert moved[0] == "The test set changed: 40 of the PR's 100 test rows were not in the base's test set."
    assert moved[1].startswith("Leakage in favour of the base: the base model was trained on 25 (25.0%)")
    assert "schema changed" in said(changed_files=["src/mlapp/schema.py"])[0]
    assert "rebuilt with the PR's packages" in said(changed_files=["uv.lock"])[0]
    assert "does not match the model recorded" in said(champion_matches_lock=False)[0]
    assert "stale (`dvc status`: train)" in said(pr_pipeline_stale=["train"])[0]
    assert "did not commit" in said(lock_uncommitted=True)[0]


def _data_rows(task: str, classes: list[str], train: pd.Series, test: pd.Series) -> list[str]:
    facts = changes.table_facts(train.to_frame("y"), test.to_frame("y"), "y", task, classes)
    report = {"task": task, "classes": classes, "changes": {"params": [], "src": [], "pipeline_files": []}}
    report["changes"]["data"] = {"base": {"md5": "a", **facts}, "pr": {"md5": "a", **facts}}
    report["changes"]["data"]["same_training_rows"] = True
    return [line for line in markdown.what_changed(report, compact=False) if line.startswith("| ")]


def test_the_label_row_speaks_the_task() -> None:
    # regression: the label's mean, never a "rate" shown as a percentage
    rows = _data_rows("regression", [], pd.Series([150.0, 160.0]), pd.Series([100.0, 120.0]))
    assert "| label mean: train / test | 155 / 110 | 155 / 110 |" in rows
    assert not any("%" in row for row in rows)
    # binary with text labels: the positive class's share (the second class) and its rows
    rows = _data_rows("binary", ["no", "yes"], pd.Series(["yes", "no", "no", "no"]), pd.Series(["yes", "no"]))
    shares = "25.0% (1) / 50.0% (1)"
    assert f"| positive class `yes`: train / test (rows) | {shares} | {shares} |" in rows
    # binary with numbers that are not 0/1: still the share of the positive class
    rows = _data_rows("binary", ["1", "2"], pd.Series([2, 1, 1, 1]), pd.Series([1.0, 1.0]))
    assert "| positive class `2`: train / test (rows) | 25.0% (1) / 0.0% (0) | 25.0% (1) / 0.0% (0) |" in rows
    # multiclass: every class's share and rows
    classes = ["a", "b", "c"]
    rows = _data_rows("multiclass", classes, pd.Series(["a", "b", "b", "c"]), pd.Series(["c", "c"]))
    assert "| class `b`: train / test (rows) | 50.0% (2) / 0.0% (0) | 50.0% (2) / 0.0% (0) |" in rows
    assert "| class `c`: train / test (rows) | 25.0% (1) / 100.0% (2) | 25.0% (1) / 100.0% (2) |" in rows


def test_report_json_keeps_class_shares_and_adds_their_row_counts() -> None:
    """A share alone does not say whether it rests on 4 rows or 4,000."""
    train = pd.DataFrame({"y": ["b", "a", "b", "b", "1.0"] * 800})
    test = pd.DataFrame({"y": ["b", "a", "b", "b"]})
    facts = changes.table_facts(train, test, "y", "multiclass", ["1", "a", "b"])
    assert facts["label_train"] == {"1": 0.2, "a": 0.2, "b": 0.6}
    assert facts["label_test"] == {"1": 0.0, "a": 0.25, "b": 0.75}
    assert facts["class_rows_train"] == {"1": 800, "a": 800, "b": 2400}
    assert facts["class_rows_test"] == {"1": 0, "a": 1, "b": 3}
    regression = changes.table_facts(pd.DataFrame({"y": [1.0, 3.0]}), test.iloc[:0], "y", "regression", [])
    assert regression["label_train"] == 2.0
    assert regression["class_rows_train"] is regression["label_test"] is regression["class_rows_test"] is None


def test_a_class_no_row_is_predicted_as_is_named_not_left_at_precision_zero() -> None:
    """sklearn scores a never-predicted class's precision 0 (zero_division): in the metrics table
    that read as a model that is always wrong about it, not one that never says it."""
    from mlapp.report.task_markdown import multiclass

    def confusion(predicted: dict[str, int]) -> list[dict[str, object]]:
        return [{"actual": "a", "predicted": p, "count": n} for p, n in predicted.items()]

    curves = {"base": {"confusion": confusion({"a": 3, "b": 1, "c": 1})},
              "pr": {"confusion": confusion({"a": 4, "b": 1, "c": 0})}}  # fmt: skip
    text = "\n".join(multiclass({"curves": curves, "classes": ["a", "b", "c"]}, compact=False))
    assert "The PR model predicts no test row as `c`: its precision is undefined" in text
    assert "The base model" not in text


def _row(name: str, base: float, pr: float) -> dict[str, Any]:
    return {"name": name, "base": base, "pr": pr, "delta": pr - base, "ci_low": -0.1, "ci_high": 0.1,
            "higher_is_better": True, "change": "no significant change"}  # fmt: skip


def _metric_rows(task: str, classes: list[str], predicted: dict[str, dict[str, int]], rows: list[Any]) -> str:
    """The metrics table of a report whose models predict ``predicted`` (class: test rows)."""
    curves = {
        side: {"confusion": [{"actual": classes[0], "predicted": p, "count": n} for p, n in counts.items()]}
        for side, counts in predicted.items()
    }
    report = {
        "task": task,
        "classes": classes,
        "primary_metric": rows[0]["name"],
        "metrics": rows,
        "bootstrap": {"confidence": 0.95, "rows": 4},
        "changes": {"data": {"pr": {"rows_test": 4}}},  # every test row compared
        "curves": curves,
        "models": {"base": {"threshold": 0.5}, "pr": {"threshold": 0.5}},
    }
    return "\n".join(markdown.metrics(report, compact=False))


def test_an_undefined_precision_reads_as_undefined_not_as_zero() -> None:
    """The class's precision stays 0 in the data (metrics.json, the gate), but the table says
    why: a 0.0000 with a CI read as a model always wrong about a class it never names."""
    rows = [_row("f1_macro", 0.6, 0.5), _row("per_class.c.precision", 0.5, 0.0),
            _row("per_class.b.precision", 0.0, 0.25), _row("per_class.c.recall", 0.4, 0.0)]  # fmt: skip
    text = _metric_rows(
        "multiclass", ["a", "b", "c"], {"base": {"a": 3, "b": 0, "c": 1}, "pr": {"a": 4, "b": 1}}, rows
    )
    assert "| `per_class.c.precision` | 0.5000 | n/a: never predicted | — | — | — |" in text
    assert "| `per_class.b.precision` | n/a: never predicted | 0.2500 | — | — | — |" in text
    assert "| `per_class.c.recall` | 0.4000 | 0.0000 | -0.4000 | [-0.1000, +0.1000] |" in text
    assert "n/a: never predicted: no test row is predicted as the class" in text
    assert [r["pr"] for r in rows[1:]] == [0.0, 0.25, 0.0]  # the numbers themselves are unchanged
    # binary: "precision" is the positive class's; predicted by both, it stays a number
    rows = [_row("roc_auc", 0.8, 0.7), _row("precision", 0.5, 0.0)]
    text = _metric_rows("binary", ["0", "1"], {"base": {"0": 3, "1": 1}, "pr": {"0": 4, "1": 0}}, rows)
    assert "| precision | 0.5000 | n/a: never predicted | — | — | — |" in text
    text = _metric_rows("binary", ["0", "1"], {"base": {"0": 3, "1": 1}, "pr": {"0": 3, "1": 1}}, rows)
    assert "| precision | 0.5000 | 0.0000 | -0.5000 |" in text
    assert "never predicted" not in text


def test_few_test_rows_of_a_class_are_warned_about() -> None:
    """A PR that cut the data to 60 rows had 13 test rows, one positive: "no significant change",
    gate passed, and nothing said that the interval [-0.36, +0.18] could not tell."""
    y = np.array([0] * 12 + [1])
    assert caveats.few_test_rows(y, ["0", "1"], 10) == (
        "Few test rows: 13 compared, 1 of class `1` (validate.min_class_rows: 10): the bootstrap cannot "
        "show how much the metrics vary on so few rows, so the intervals, wide or narrow, and the verdict "
        "say little either way."
    )
    assert caveats.few_test_rows(np.array([0] * 10 + [1] * 10), ["0", "1"], 10) is None
    said = caveats.few_test_rows(np.array([0] * 10 + [1] * 10), ["0", "1", "2"], 10)
    assert said and said.startswith("Few test rows: 20 compared, 0 of class `2` (")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_regression_on_fewer_rows_than_a_class_needs_is_warned_about_too() -> None:
    """A test set of one row: every resample is that row, so the interval of any change has zero
    width and called it significant ("better", [-1, -1]), with no warning (regression has no
    class to count)."""
    one = compare.compare(
        np.array([3.0]), (np.array([1.0]), 0), (np.array([2.0]), 0), 100, 1, 0.95, "regression"
    )
    assert one[0].name == "rmse" and one[0].ci_low == one[0].ci_high == -1.0  # what the warning is for
    assert caveats.few_test_rows(np.array([3.0]), [], 10) == (
        "Few test rows: 1 compared (validate.min_class_rows: 10): the bootstrap cannot show how much "
        "the metrics vary on so few rows, so the intervals, wide or narrow, and the verdict say little "
        "either way."
    )
    assert caveats.few_test_rows(np.arange(10.0), [], 10) is None
