"""The validate stage's checks of the label as a whole: can it train a model of the task (classes,
rows per class, one spelling per class, not constant), the missing-label policy, and its summary
in the report (regression labels far outside the rest named).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlapp.cells import nested
from mlapp.labels import label_text, spelling_key
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.stages import label_domain


def label_problems(labels: pd.Series, params: Params, dropped: int = 0) -> list[Problem]:
    """Can these labels train a model of the task? Both classes, enough rows of every class
    (``validate.min_class_rows``), not constant. ``dropped``: rows without a label, left out."""
    name = params.data.label
    present = labels.dropna()
    if present.empty:
        return [Problem(name, "not entirely empty (no labeled rows)", len(labels))]
    if params.task == "regression":
        if present.nunique() < 2:
            check = f"not constant (every label is {present.iloc[0]}){_one_value_fix(name, 'value', dropped)}"
            return [Problem(name, check, len(present))]
        return label_domain.problems(present, params)
    return _class_problems(present, params, dropped)


def _class_problems(present: pd.Series, params: Params, dropped: int) -> list[Problem]:
    """A class label's first problem, in order: a class spelt two ways, too few classes for the
    task, too few rows of a class."""
    name, task = params.data.label, params.task
    counts = present.value_counts().sort_index()
    found = {str(k): int(v) for k, v in counts.items()}
    least = params.validate_.min_class_rows
    quantity = _quantity(counts, found, least)
    regression = f"; {len(found)} classes: if the label is a quantity, set task: regression"
    if variants := _spelling_variants(found, params.data.classes or []):
        return [_spelling_problem(name, present, found, variants, params.validate_.max_failure_examples)]
    if task == "binary" and len(counts) != 2:
        hint = (
            regression
            if quantity
            else "; with more classes, set task: multiclass"
            if len(counts) > 2
            else _one_value_fix(name, "class", dropped)
        )
        check = f"both classes present for task binary (found {len(counts)}: {_brief(found)}){hint}"
        return [Problem(name, check, len(present), list(found)[:5])]
    if task == "multiclass" and len(counts) < 2:
        fix = _one_value_fix(name, "class", dropped)
        check = f"at least two classes for task multiclass (found {found}{fix})"
        return [Problem(name, check, len(present))]
    # A rare class cannot be split into train, early-stopping and test rows; a declared class
    # the table never has could not be learnt (nor scored).
    absent = {c: 0 for c in params.data.classes or [] if c not in found}
    small = {**absent, **{k: v for k, v in found.items() if v < least}}
    if small:
        hint = "; a class of data.classes without rows cannot be learnt" if absent else ""
        rare = [c for c in small if c not in absent]
        hint += regression if quantity else _rare_fix(rare) if rare else ""
        check = f"at least {least} rows per class (validate.min_class_rows; found {_brief(small)}{hint})"
        return [_rare_rows(name, check, present, small, params.validate_.max_failure_examples)]
    return []


def _quantity(counts: pd.Series, found: dict[str, int], least: int) -> bool:
    """A number per row (a price, a score) read as classes: mostly classes of a row or two, and
    more than two of them (one or two rare classes are a small table, not a quantity)."""
    return bool(
        len(found) > 2
        and pd.to_numeric(counts.index.to_series(), errors="coerce").notna().all()
        and (sum(v < least for v in found.values()) * 2 > len(found))
    )


def _spelling_problem(
    name: str, present: pd.Series, found: dict[str, int], variants: list[list[str]], examples: int
) -> Problem:
    """Classes that differ only in spelling, and the rows of each group's less common spellings
    (those to respell)."""
    pairs = "; ".join(" and ".join(map(repr, group)) + _how_they_differ(group) for group in variants)
    check = (
        f"one spelling per class ({pairs}: one class spelt two ways? spell it one way in the file, "
        "or list every spelling in data.classes (params.yaml) if they are distinct classes)"
    )
    rare = [c for group in variants for c in sorted(group, key=lambda c: -found[c])[1:]]
    rows = present[present.isin(rare)]
    shown = [int(r) for r in rows.index[:examples]]
    return Problem(name, check, len(rows), rare[:5], shown)


def _one_value_fix(name: str, kind: str, dropped: int) -> str:
    """What to do about a label of one value: nothing to learn apart. Most often the wrong column
    (data.label) or an export that wrote one class only; blanks read as missing may be the other."""
    fix = (
        f"; a model learns from rows of more than one {kind}: check that data.label (params.yaml) "
        f"names the column to predict, or add rows of another {kind} to the file"
    )
    if dropped:
        fix += (
            f"; {dropped} row(s) without a label were left out (data.missing_label): if a blank means "
            f"another {kind}, write it in '{name}'"
        )
    return fix


def _rare_fix(classes: list[str]) -> str:
    """What to do about a class with too few rows: train, early stopping and test each need some."""
    named = ", ".join(repr(c) for c in classes[:3]) + (", ..." if len(classes) > 3 else "")
    return (
        f"; train, early stopping and test each need rows of every class: add rows of {named}, "
        "or give its rows another class or remove them from the file"
    )


def _rare_rows(name: str, check: str, labels: pd.Series, small: dict[str, int], limit: int) -> Problem:
    """The rows of the too-small classes (labels indexed by row), the first ``limit`` shown; a
    declared class without rows is named by itself."""
    rare = labels[labels.isin(list(small))]
    if rare.empty:
        return Problem(name, check, len(small), list(small)[:5])
    shown = rare.iloc[:limit]
    return Problem(name, check, len(rare), shown.tolist(), [int(r) for r in shown.index])


def _spelling_variants(found: dict[str, int], declared: list[str]) -> list[list[str]]:
    """Groups of class labels that differ only in case ("Yes", "yes") or a trailing "." (UCI's
    adult test part writes ">50K." where its training part writes ">50K"), unless data.classes
    declares every one of them: an export's inconsistency, not classes the team means."""
    groups: dict[str, list[str]] = {}
    for label in found:
        groups.setdefault(spelling_key(label), []).append(label)
    return [sorted(g) for g in groups.values() if len(g) > 1 and not set(g) <= set(declared)]


def _how_they_differ(group: list[str]) -> str:
    if len({c.casefold() for c in group}) == 1:
        return " differ only in case"
    if len({c.rstrip(".") for c in group}) == 1:
        return " differ only in a trailing '.'"
    return " differ only in case and a trailing '.'"


def _brief(counts: dict[str, int], shown: int = 5) -> str:
    """Rows per class, the first few of many: one readable line for hundreds of classes."""
    if len(counts) <= shown:
        return str(counts)
    return str(dict(list(counts.items())[:shown]))[:-1] + f", … {len(counts) - shown} more}}"


def prepare_label(
    frame: pd.DataFrame, params: Params, integral: bool | None = None
) -> tuple[pd.DataFrame, int, list[Problem]]:
    """Normalise class labels to text and apply ``data.missing_label``: (rows kept, dropped, problems).

    ``integral``: whether every numeric label of the whole table is an integer (see ``label_text``).
    """
    name = params.data.label
    if name not in frame.columns:
        return frame, 0, []  # the schema reports the missing column
    if params.task != "regression":
        # A list or bytes (Parquet) is no class: kept as it is, for the label's parse to name it,
        # not read as the class "b'1'".
        odd = nested(frame[name])
        texts = label_text(frame[name].mask(odd), integral)
        frame = frame.assign(**{name: texts.where(~odd, frame[name]) if odd.any() else texts})
    missing = frame[name].isna()
    if not missing.any():
        return frame, 0, []
    if params.data.missing_label == "fail":
        failing = frame.loc[missing, name]
        rows = [int(i) for i in failing.index[: params.validate_.max_failure_examples]]
        check = "no missing labels (data.missing_label: fail)"
        return frame, 0, [Problem(name, check, int(missing.sum()), [None], rows)]
    return frame.loc[~missing], int(missing.sum()), []


FAR_IQRS = 10  # a label this many interquartile ranges past a quartile: a typo x1000, not a long tail


def far_labels(labels: pd.Series, examples: int) -> dict[str, Any]:
    """Regression labels far outside the rest (``FAR_IQRS``): counted, the farthest named by row.
    Squared error pulls every prediction towards them, and no check of a value's own range sees
    them (the label has no FEATURES range). None when the quartiles coincide (a mostly-zero label)."""
    low, high = labels.quantile(0.25), labels.quantile(0.75)
    spread = high - low
    outside = (labels < low - FAR_IQRS * spread) | (labels > high + FAR_IQRS * spread)
    far = labels[outside] if spread else labels[:0]
    shown = (far - labels.median()).abs().sort_values(ascending=False, kind="stable").index[:examples]
    return {
        "count": len(far),
        "rule": f"beyond {FAR_IQRS} interquartile ranges of the quartiles ({low:g}, {high:g})",
        "rows": [int(row) for row in shown],
        "values": [float(far[row]) for row in shown],
    }


def label_summary(labels: pd.Series, task: str, examples: int = 5) -> dict[str, Any]:
    if task == "regression":
        return {
            "label_mean": round(float(labels.mean()), 6),
            "label_std": round(float(labels.std()), 6),
            "label_min": round(float(labels.min()), 6),
            "label_max": round(float(labels.max()), 6),
            "label_outliers": far_labels(labels, examples),
        }
    return {"label_counts": {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}}
