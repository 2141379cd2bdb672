"""The rows both models are scored on: the PR's test rows, or, for a base model that cannot read
them (a feature the PR removed or retyped in src/mlapp/schema.py), the base's copy of those rows.

The base's test split holds the same rows with the base's columns. Each PR test row is paired
with its copy there (``data.id_column``, or the values of the columns both tables share), the
base model scores the copies and the PR's model the PR's rows; labels are the PR's, so both
models are judged against one truth, in the PR's row order.

Rows the base model was trained on (a changed split or data moved them into the PR's test set)
are left out: scored on its own training rows, the base would look better than it is, and a PR
that only reshuffles the split would be called worse.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlapp.errors import UserError
from mlapp.markdown_table import code_span
from mlapp.model import Model, UnknownLabels
from mlapp.params import Params
from mlapp.report import changes, compare, target
from mlapp.report.champion import Champion


@dataclass(frozen=True)
class Pairs:
    pr: np.ndarray  # positions of the PR's test rows that have a copy, in the PR's order
    base: np.ndarray  # the position of each one's copy in the base's test rows
    by: str  # how rows were matched, said in the note
    ambiguous: int  # PR rows matching several different base rows: left out


@dataclass(frozen=True)
class Scored:
    y: np.ndarray  # the compared rows' labels (the PR's), as the PR's model encodes them
    base: np.ndarray  # the base model's scores, in the PR's class order
    pr: np.ndarray
    rows: dict[str, pd.DataFrame]  # what each model ("base", "pr") scored: latency is timed on it
    notes: list[str]  # how the rows were chosen, when not simply as the PR's test rows
    paired_by: str | None  # how the base's copies were paired (``Pairs.by``); None: no copies

    @property
    def on_base_copy(self) -> bool:
        """The base model scored its copy of the PR's rows (the note says which, and why)."""
        return self.paired_by is not None


def cannot_score(model: Model, rows: pd.DataFrame) -> str | None:
    """Why ``model`` cannot score ``rows`` (what follows "the model"); None when it can."""
    if missing := [f for f in model.spec.features if f not in rows.columns]:
        return f"needs features the PR's test set lacks: {', '.join(missing)}"
    if changed := compare.type_changes(model, rows):
        listed = ", ".join(changed)
        return f"cannot score the PR's test set: a feature's type changed (src/mlapp/schema.py): {listed}"
    return None


def score(model: Model, rows: pd.DataFrame, who: str) -> np.ndarray:
    if why := cannot_score(model, rows):
        raise UserError(f"the {who} model {why}")
    return model.scores(rows)


def pair(pr_test: pd.DataFrame, base_test: pd.DataFrame, id_column: str | None) -> Pairs:
    """Each PR test row's copy in the base's test rows: the row with its id, or (no id) the row
    agreeing with it in every shared column, label included (``changes.row_keys`` either way).

    Duplicates: rows alike in every base column are one row (the base model scores them alike),
    and any number of alike PR rows pair with it. A PR row matching several *different* base
    rows (alike but for a removed column, or a repeated id) is left out: which one is its copy
    cannot be known, and the base model would be scored on a guess.
    """
    columns = [] if id_column else changes.shared_columns(pr_test, base_test)
    by = (
        code_span(id_column) if id_column else f"the values of the {len(columns)} columns both test sets hold"
    )
    if not columns and not (id_column and id_column in pr_test and id_column in base_test):
        return Pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64), by, 0)  # nothing to match
    distinct = np.flatnonzero(~base_test.duplicated().to_numpy())
    base_keys = changes.row_keys(base_test.iloc[distinct], id_column, columns)
    pr_keys = changes.row_keys(pr_test, id_column, columns)
    several = base_keys.duplicated(keep=False)
    at = base_keys[~several].get_indexer(pr_keys)  # -1: no copy, or several
    found = at >= 0
    return Pairs(
        pr=np.flatnonzero(found),
        base=distinct[~several][at[found]],
        by=by,
        ambiguous=int(pr_keys.isin(base_keys[several]).sum()),
    )


def too_few(y: np.ndarray, paired: np.ndarray, least: int, classes: list[str]) -> str | None:
    """Why the paired rows cannot be compared on; None when they can.

    Each class of the PR's test rows needs ``least`` paired rows (validate.min_class_rows, the
    rows the data contract asks of every class), or all of its rows where it has fewer: a class
    missing from the paired rows leaves its metrics undefined, and a handful leaves an interval
    too wide to judge by. A regression label counts as one class.
    """
    if classes:
        totals, got = (np.bincount(codes, minlength=len(classes)) for codes in (y, y[paired]))
        names = [f"of class {name!r}" for name in classes]
    else:
        totals, got, names = np.array([len(y)]), np.array([len(paired)]), [""]
    counts = zip(names, got, totals, strict=True)
    short = [f"{g:,} of the {t:,} rows {name}".rstrip() for name, g, t in counts if g < min(least, t)]
    if not short:
        return None
    return f"too few to compare (validate.min_class_rows: {least} a class): {'; '.join(short)}"


def note(pairs: Pairs, total: int, why: str) -> str:
    """What the reader is told: which rows, paired how, and why."""
    which = (
        f"these {total:,} test rows"
        if len(pairs.pr) == total
        else f"{len(pairs.pr):,} of the PR's {total:,} test rows"
    )
    said = (
        f"The base model was scored on the base's copy of {which} (paired by {pairs.by}), because it {why}."
    )
    if left := total - len(pairs.pr):
        several = ""
        if pairs.ambiguous:
            several = f" ({pairs.ambiguous:,} of them match several different base rows)"
        said += (
            f" Both models are compared on those {len(pairs.pr):,} rows only: {left:,} have no single "
            f"copy in the base's test set{several}."
        )
    return said


def compared(report: dict[str, Any]) -> str:
    """The rows both models were scored on, as report.json says them (the metrics' heading): the
    PR's test set, or those of its rows whose base's copy the base model scored, paired by what."""
    boot = report["bootstrap"]
    total = report["changes"]["data"]["pr"]["rows_test"]
    if not (by := boot.get("paired_by")):
        if boot["rows"] == total:
            return "PR's test set"
        return f"{boot['rows']:,} of the PR's {total:,} test rows: those the base model was not trained on"
    which = "the" if boot["rows"] == total else f"{boot['rows']:,} of the"
    return f"{which} PR's {total:,} test rows, paired with the base's copies by {by}"


def scored(champion: Champion, challenger: Model, pr_test: pd.DataFrame, params: Params) -> Scored:
    """Both models' scores on the compared rows; a UserError when there is no like-for-like
    comparison (another task, label or classes, or too few rows to pair or left unseen by the base)."""
    label, stale = params.data.label, "the PR's pipeline outputs are stale: run `uv run dvc repro` and commit"
    if challenger.spec.label != label:  # params.yaml changed since `dvc repro`: no traceback, say so
        raise UserError(
            f"the PR's model predicts {challenger.spec.label!r}, "
            f"params.yaml's data.label is {label!r}: {stale}"
        )
    if label not in pr_test:
        raise UserError(
            f"the PR's test split ({params.split.test}) has no {label!r} column (data.label): {stale}"
        )
    y = challenger.spec.encode(pr_test[label], examples=params.validate_.max_failure_examples)
    renamed = renamed_label(champion, challenger, pr_test, y, params)
    kept, base_rows, notes = np.arange(len(pr_test)), pr_test, [*renamed]
    paired_by: str | None = None

    def base_scores() -> np.ndarray:  # runs once task and classes match: those are the reasons to name
        nonlocal kept, base_rows, paired_by
        if why := cannot_score(champion.model, pr_test):
            pairs = pair(pr_test, champion.test, params.data.id_column)
            least = params.validate_.min_class_rows
            if short := too_few(y, pairs.pr, least, challenger.spec.classes):
                raise UserError(
                    f"the base model {why}; scoring it on the base's copy of the PR's test rows instead "
                    f"needs them paired (by {pairs.by}), but only {len(pairs.pr):,} of "
                    f"{len(pr_test):,} pair: {short}"
                )
            kept, base_rows, paired_by = pairs.pr, champion.test.iloc[pairs.base], pairs.by
            notes.append(note(pairs, len(pr_test), why))
        return score(champion.model, base_rows, "base")

    base = compare.same_task(champion.model, challenger, base_scores, label_checked=bool(renamed))
    pr_rows = pr_test.iloc[kept] if paired_by else pr_test
    seen = trained_on(champion.train, pr_rows, params.data.id_column)
    if seen.any():  # scored on its own training rows, the base would look better than it is
        unseen = np.flatnonzero(~seen)
        least = params.validate_.min_class_rows
        if short := too_few(y[kept], unseen, least, challenger.spec.classes):
            raise UserError(
                f"the base model was trained on {seen.sum():,} of the {len(pr_rows):,} test rows, "
                f"and the {len(unseen):,} others are {short}"
            )
        notes.append(
            f"The base model was trained on {seen.sum():,} of these {len(pr_rows):,} test rows (the "
            f"split or the data changed): both models are compared on the other {len(unseen):,} only, "
            "as scores on its own training rows would flatter the base."
        )
        kept, base, pr_rows, base_rows = (
            kept[unseen],
            base[unseen],
            pr_rows.iloc[unseen],
            base_rows.iloc[unseen],
        )
    pr = score(challenger, pr_rows, "PR")
    return Scored(y[kept], base, pr, {"base": base_rows, "pr": pr_rows}, notes, paired_by)


def renamed_label(
    champion: Champion, challenger: Model, pr_test: pd.DataFrame, y: np.ndarray, params: Params
) -> list[str]:
    """A note when the PR renamed the label column (data.label, and the data file's column) and
    its values are the base's on every test row paired with the base's copy; [] when the label kept
    its name or the models differ in task or classes (``compare.same_task`` names that). A
    UserError when the values differ, or no row pairs to tell: then it is another column, and the
    base model's scores against the PR's labels would compare nothing."""
    old, new = champion.model.spec.label, challenger.spec.label
    as_pr = dataclasses.replace(target.of_model(champion.model), label=new)
    if old == new or target.mismatch(as_pr, target.of_model(challenger)):
        return []
    changed = f"the label changed (base {old!r}, PR {new!r}: data.label)"
    pairs = pair(pr_test, champion.test, params.data.id_column)
    if old not in champion.test or not len(pairs.pr):
        raise UserError(
            f"{changed}, and no PR test row pairs with a base test row holding {old!r} (by {pairs.by}) "
            "to tell a renamed column from another one: the base model may predict another column, "
            "and its scores against the PR's labels would compare nothing"
        )
    try:
        theirs = challenger.spec.encode(champion.test[old].iloc[pairs.base], examples=1)
        differ = int((theirs != y[pairs.pr]).sum())
    except UnknownLabels:  # a value that is none of the PR's classes
        differ = len(pairs.pr)
    if differ:
        raise UserError(
            f"{changed}: its values differ from the base's {old!r} on {differ:,} of the "
            f"{len(pairs.pr):,} test rows paired by {pairs.by}: the base model predicts another "
            "column, so its scores against the PR's labels compare nothing"
        )
    return [
        f"The label column was renamed from {code_span(old)} to {code_span(new)} (data.label): its "
        f"values are the base's on all {len(pairs.pr):,} test rows paired by {pairs.by}, so both "
        "models are compared against one truth."
    ]


def trained_on(base_train: pd.DataFrame, rows: pd.DataFrame, id_column: str | None) -> np.ndarray:
    """Which of ``rows`` the base model was trained on: known by id, or (no id) by the values of
    the columns both hold as one type, as ``changes.row_overlap`` counts them."""
    columns = changes.shared_columns(rows, base_train)
    keys = changes.row_keys(rows, id_column, columns)
    if len(keys) != len(rows) or not (id_column or columns):  # nothing to know the rows by
        return np.zeros(len(rows), dtype=bool)
    return np.asarray(keys.isin(changes.row_keys(base_train, id_column, columns)))
