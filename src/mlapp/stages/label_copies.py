"""Features that are the label under another name (an export's `target` copied into `leak`, the
class as a code): every metric comes out perfect, and a new row has no such value before its label
is known. Validate names them; the model would otherwise be trained and reported as flawless."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from mlapp.problem_row import Problem

MAX_LEVELS = 50  # a copy of a class label holds one value per class: a column of more is none
FIX = (
    "a model would learn the answer from it, which a new row does not have before its label is known: "
    "remove it from FEATURES (src/mlapp/schema.py) and list it in data.ignore_columns (params.yaml)"
)


class LabelCopies:
    """Feed it every labeled chunk (``add``); ``problems`` names the features that copy the label:
    for a class label, one value per class and one class per value in every row; for a number, the
    label's own value in every row. A feature with a blank is none."""

    def __init__(self, features: Iterable[str], label: str, task: str) -> None:
        self.label, self.regression = label, task == "regression"
        # (feature value, label) pairs seen, as text; None once the feature is no copy.
        self.pairs: dict[str, set[tuple[str, str]] | None] = {name: set() for name in features}

    def add(self, typed: pd.DataFrame) -> None:
        if self.label not in typed.columns:
            return
        label = typed[self.label]
        for name, pairs in self.pairs.items():
            if pairs is None or name not in typed.columns:
                continue
            values = typed[name]
            if self.regression:
                self.pairs[name] = {("", "")} if _same_numbers(values, label) else None  # seen equal
            elif values.isna().any() or values.nunique() > MAX_LEVELS:
                self.pairs[name] = None
            else:
                seen = pd.DataFrame({"v": values.astype(str), "l": label.astype(str)}).drop_duplicates()
                pairs.update(zip(seen["v"], seen["l"], strict=True))
                # A value of two classes, or a class of two values: no copy, and the later chunks
                # (most tables' every feature after the first) cost nothing more.
                if not len(pairs) == len({v for v, _ in pairs}) == len({c for _, c in pairs}):
                    self.pairs[name] = None

    def problems(self, rows: int) -> list[Problem]:
        found = []
        for name, pairs in self.pairs.items():
            if not pairs:  # no copy, or never seen
                continue
            if self.regression:
                found.append(
                    Problem(name, f"not a copy of the label ('{self.label}' in every row; {FIX})", rows)
                )
                continue
            values, classes = {v for v, _ in pairs}, {c for _, c in pairs}
            if len(classes) >= 2:  # one value per class and one class per value: add kept no other
                shown = ", ".join(f"{v!r} with class {c!r}" for v, c in sorted(pairs)[:5])
                each = f"one value per class of '{self.label}' in every row: {shown}"
                found.append(
                    Problem(name, f"not a copy of the label ({each}; {FIX})", rows, sorted(values)[:5])
                )
        return found


def _same_numbers(values: pd.Series, label: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    return bool((values.astype("float64") == pd.to_numeric(label, errors="coerce")).all())


def copied_columns(frame: pd.DataFrame, columns: list[str], label: str, task: str) -> set[str]:
    """The columns of ``frame`` (the schema draft's: a CSV's text) that copy the label, on its
    labeled rows; for a regression label, text compared as numbers, as validate types it."""
    labeled = frame[frame[label].notna()]
    if task == "regression":
        labeled = labeled.apply(_as_numbers)
    copies = LabelCopies(columns, label, task)
    copies.add(labeled)
    return {p.column for p in copies.problems(len(labeled))}


def _as_numbers(values: pd.Series) -> pd.Series:
    """A text column read as numbers if every present value is one; any other column as it is."""
    if not pd.api.types.is_object_dtype(values) and not pd.api.types.is_string_dtype(values):
        return values
    try:
        numbers = pd.to_numeric(values, errors="coerce")
    except (TypeError, ValueError):  # a Parquet list or record column
        return values
    return numbers if numbers.notna().sum() == values.notna().sum() else values
