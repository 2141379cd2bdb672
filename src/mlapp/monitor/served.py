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

from typing import Any

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


def served_scores(
    values: pd.Series, task: str, classes: list[str] | None, decimal: str, limit: int
) -> tuple[pd.Series, Problem | None]:
    """``values``: one score field of a log's records (named as it, indexed by their rows). Binary:
    P(positive) per row (NaN where none was logged); the problem naming the rows whose value is no
    probability, or None. ``classes``: a multiclass model's, when known."""
    absent = pd.Series(np.nan, index=values.index, dtype="float64")
    if task == "binary":
        scores, bad = _probabilities(values, decimal)
        return scores, (problem(values[bad], PROBABILITY_RULE, limit) if bad.any() else None)
    if task == "multiclass":
        present = values.notna()  # null, or JSON's NaN: no score logged
        bad = present & ~values.map(lambda value: _vector_ok(value, classes, decimal)).astype(bool)
        return absent, (problem(values[bad], _vector_rule(classes), limit) if bad.any() else None)
    # A regression log's prediction: checked (a writer's text, yes/no, list or inf is refused),
    # not compared with this model's (skew is the binary score's).
    bad = _numbers(values, decimal, -np.inf, np.inf)[1]
    return absent, (problem(values[bad], PREDICTION_RULE, limit) if bad.any() else None)
