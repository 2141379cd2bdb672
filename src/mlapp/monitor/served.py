"""A prediction log's served scores, checked as its features are: a value that is no probability
is a problem naming the field, the rule, a few values and the records' 0-based rows.

Binary logs carry ``probability`` (P(positive)), multiclass logs ``probabilities`` (an object of
each class and its probability, as the service writes it), regression logs ``prediction`` (a
number). Any may be absent or null (JSON's NaN too): a log written before it was has no score,
and its rows are not compared. Anything else (text that is no number, a yes/no, a list, 1.7 as
a probability, an infinite prediction, a vector of other classes or one not summing to 1) is a
corrupt log: the batch is refused, as a feature outside its range is, rather than compared with
numbers nobody served.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from mlapp.cells import parse_values
from mlapp.problem_row import Problem
from mlapp.problems import problem

# The field each task's service writes (mlapp.serving.predlog).
SCORE_FIELDS = {"binary": "probability", "multiclass": "probabilities", "regression": "prediction"}
# A multiclass row's probabilities sum to 1 up to this: float32 softmax is within 1e-6, and a
# writer rounding each of ten classes to 3 decimals is within 0.005.
SUM_TOLERANCE = 0.01
PROBABILITY_RULE = "a number in [0, 1] (the served P(positive)), or null"
PREDICTION_RULE = "a finite number (the served prediction), or null"
# Per row: P(positive) or the prediction (a Series), or each class's probability (a frame whose
# columns are the model's classes, in its order); NaN where none was logged.
Scores: TypeAlias = pd.Series | pd.DataFrame


def _numbers(values: pd.Series, decimal: str, low: float, high: float) -> tuple[pd.Series, pd.Series]:
    """Each value as a number, and which are not one in [low, high] (present: null is none logged)."""
    numbers, bad = parse_values(values, "float64", decimal)
    bad = bad | (numbers.notna() & ~(numbers.between(low, high) & np.isfinite(numbers)))
    return numbers.where(~bad), bad


def _probabilities(values: pd.Series, decimal: str) -> tuple[pd.Series, pd.Series]:
    return _numbers(values, decimal, 0.0, 1.0)


def _vector_rule(classes: list[str] | None) -> str:
    which = f"the model's classes {classes}" if classes else "each class"
    return (
        f"an object of {which} and its probability: numbers in [0, 1] summing to 1 "
        f"(± {SUM_TOLERANCE}), or null"
    )


def _vector_ok(value: Any, classes: list[str] | None, decimal: str) -> bool:
    if not isinstance(value, dict) or not value:
        return False
    if classes is not None and sorted(map(str, value)) != sorted(classes):
        return False
    numbers, bad = _probabilities(pd.Series(list(value.values()), dtype=object), decimal)
    return not bad.any() and not numbers.isna().any() and abs(float(numbers.sum()) - 1.0) <= SUM_TOLERANCE


def _matrix(values: pd.Series, good: pd.Series, classes: list[str], decimal: str) -> pd.DataFrame:
    """The rows' checked probability objects as a (rows x classes) frame in the model's class
    order (a log may name them in any order), NaN rows where none was logged."""
    objects = [{str(name): p for name, p in value.items()} for value in values[good]]
    rows = pd.DataFrame(objects, index=values.index[good], columns=classes, dtype=object)
    parsed = {name: _probabilities(rows[name], decimal)[0] for name in classes}
    return pd.DataFrame(parsed, index=rows.index, columns=classes, dtype="float64").reindex(values.index)


def served_scores(
    values: pd.Series, task: str, classes: list[str] | None, decimal: str, limit: int
) -> tuple[Scores, Problem | None]:
    """``values``: one score field of a log's records (named as it, indexed by their rows). The
    scores (``Scores``; NaN where none was logged) and the problem naming the rows whose value is
    none the task's service writes, or None. ``classes``: a multiclass model's, when known."""
    if task == "binary":
        scores, bad = _probabilities(values, decimal)
        return scores, (problem(values[bad], PROBABILITY_RULE, limit) if bad.any() else None)
    if task == "multiclass":
        present = values.notna()  # null, or JSON's NaN: no score logged
        bad = present & ~values.map(lambda value: _vector_ok(value, classes, decimal)).astype(bool)
        found = problem(values[bad], _vector_rule(classes), limit) if bad.any() else None
        # Without the model's classes (no model yet: said once the batch is checked) no order is known.
        return _matrix(values, present & ~bad, classes or [], decimal), found
    # A regression log's prediction: a writer's text, yes/no, list or inf is refused.
    predictions, bad = _numbers(values, decimal, -np.inf, np.inf)
    return predictions, (problem(values[bad], PREDICTION_RULE, limit) if bad.any() else None)
