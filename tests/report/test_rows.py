"""Pairing the PR's test rows with the base's copy of them, for a base model that needs a column
the PR removed or retyped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlapp.report import changes, rows

# The base's test rows: "tenure" is the feature the PR removes.
BASE = pd.DataFrame(
    {
        "id": [10, 11, 12, 13],
        "charges": [20.0, 35.5, 20.0, 80.0],
        "plan": ["a", "b", "a", "c"],
        "tenure": [3, 40, 7, 12],
        "churned": [1, 0, 1, 0],
    }
)


def pr_rows(ids: list[int]) -> pd.DataFrame:
    """The PR's copy of the base rows with these ids, in this order, without "tenure"."""
    return BASE.set_index("id").loc[ids].reset_index().drop(columns="tenure")


def test_rows_pair_by_id_in_the_prs_order() -> None:
    pr = pr_rows([13, 10, 11])
    pr.loc[0, "charges"] = 99.0  # a value the PR's data changed: the id still says which row
    pairs = rows.pair(pr, BASE, "id")
    assert pairs.pr.tolist() == [0, 1, 2] and pairs.base.tolist() == [3, 0, 1]
    assert pairs.by == "`id`" and pairs.ambiguous == 0


def test_without_an_id_rows_pair_when_every_shared_column_agrees() -> None:
    base, pr = BASE.drop(columns="id"), pr_rows([13, 11]).drop(columns="id")
    pairs = rows.pair(pr, base, None)
    assert pairs.pr.tolist() == [0, 1] and pairs.base.tolist() == [3, 1]
    assert pairs.by == "the values of the 3 columns both test sets hold"
    relabelled = pr.assign(churned=[0, 1])  # the label is a shared column: another label, another row
    assert rows.pair(relabelled, base, None).pr.tolist() == [0]


def test_a_retyped_column_is_not_matched_on() -> None:
    """schema.py turned "plan" into codes: the same rows hold other values there, so it cannot
    say which rows agree; the other shared columns do."""
    base, pr = BASE.drop(columns="id"), pr_rows([11]).drop(columns="id").assign(plan=[2])
    assert changes.shared_columns(pr, base) == ["charges", "churned"]
    assert rows.pair(pr, base, None).base.tolist() == [1]


def test_duplicates_pair_only_when_the_copy_is_unambiguous() -> None:
    """Rows 10 and 12 agree in every column the PR kept and differ in the removed one: a PR row
    like them has two candidate copies, and is left out. An exact duplicate in the base is one
    row; repeated PR rows all pair with their one copy."""
    base = BASE.drop(columns="id")
    pr = pr_rows([10, 11, 11]).drop(columns="id")
    pairs = rows.pair(pr, base, None)
    assert pairs.pr.tolist() == [1, 2] and pairs.base.tolist() == [1, 1] and pairs.ambiguous == 1
    doubled = pd.concat([base, base.iloc[[1]]], ignore_index=True)  # row 11 twice, alike in every column
    assert rows.pair(pr, doubled, None).base.tolist() == [1, 1]


def test_partial_and_no_pairing() -> None:
    pr = pd.concat(
        [pr_rows([12, 11]), pd.DataFrame({"id": [99], "charges": [1.0], "plan": ["z"], "churned": [0]})]
    )
    pairs = rows.pair(pr.reset_index(drop=True), BASE, "id")
    assert pairs.pr.tolist() == [0, 1] and pairs.base.tolist() == [2, 1]
    assert len(rows.pair(pr.drop(columns="id"), BASE, "id").pr) == 0  # no id to pair by
    unrelated = pd.DataFrame({"other": [1, 2]})
    assert len(rows.pair(unrelated, BASE, None).pr) == 0  # no column in common


def test_too_few_asks_min_class_rows_of_every_class_or_all_of_a_smaller_one() -> None:
    y = np.array([0] * 30 + [1] * 4)
    assert rows.too_few(y, np.arange(34), 10, ["no", "yes"]) is None
    assert rows.too_few(y, np.r_[0:10, 30:34], 10, ["no", "yes"]) is None  # all 4 "yes" rows
    assert rows.too_few(y, np.r_[0:30, 30:33], 10, ["no", "yes"]) == (
        "too few to compare (validate.min_class_rows: 10 a class): 3 of the 4 rows of class 'yes'"
    )
    values = np.linspace(0, 1, 30)  # regression: one class
    assert rows.too_few(values, np.arange(9), 10, []) == (
        "too few to compare (validate.min_class_rows: 10 a class): 9 of the 30 rows"
    )


def test_the_note_says_which_rows_how_and_why() -> None:
    full = rows.Pairs(np.arange(1200), np.arange(1200), "`customer_id`", 0)
    assert rows.note(full, 1200, "needs features the PR's test set lacks: tenure_months") == (
        "The base model was scored on the base's copy of these 1,200 test rows (paired by `customer_id`), "
        "because it needs features the PR's test set lacks: tenure_months."
    )
    part = rows.Pairs(np.arange(900), np.arange(900), "`customer_id`", 5)
    assert rows.note(part, 1200, "why").endswith(
        "copy of 900 of the PR's 1,200 test rows (paired by `customer_id`), because it why. Both models "
        "are compared on those 900 rows only: 300 have no single copy in the base's test set (5 of them "
        "match several different base rows)."
    )


def test_the_metrics_heading_names_the_rows_compared() -> None:
    """Scored on the base's copies, the metrics are not the PR's test set's: the heading says so."""

    def heading(rows_compared: int, paired_by: str | None) -> str:
        bootstrap = {"rows": rows_compared, "paired_by": paired_by, "confidence": 0.95}
        return rows.compared({"bootstrap": bootstrap, "changes": {"data": {"pr": {"rows_test": 1200}}}})

    assert heading(1200, None) == "PR's test set"
    assert (
        heading(1200, "`customer_id`")
        == "the PR's 1,200 test rows, paired with the base's copies by `customer_id`"
    )
    assert heading(900, "the values of the 3 columns both test sets hold") == (
        "900 of the PR's 1,200 test rows, paired with the base's copies by the values of the 3 columns "
        "both test sets hold"
    )
