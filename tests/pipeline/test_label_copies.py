"""A feature that is the label under another name (a leak): validate names it, with the fix,
instead of a model trained and reported as flawless (the breast-cancer table with its `target`
copied into a `leak` column trained to roc_auc 1.0 and passed)."""

from __future__ import annotations

import pandas as pd
import pytest

from mlapp.params import load_params
from mlapp.stages.findings import Findings
from mlapp.stages.validate import ValidationFailed, validate_table
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = load_params(REPO / "params.yaml")
FIX = "remove it from FEATURES (src/mlapp/schema.py) and list it in data.ignore_columns (params.yaml)"
CODES = {"bronze": "basic", "silver": "standard", "gold": "premium"}


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(str).replace({"nan": None, "None": None})


def _lines(frame: pd.DataFrame, task: str) -> list[str]:
    with pytest.raises(ValidationFailed) as failed:
        validate_table(_raw(frame), params_for(PARAMS, task))
    return [p.line() for p in failed.value.problems]


def test_a_binary_label_copied_into_a_feature_is_named() -> None:
    frame = table("binary", 400)
    (line,) = _lines(frame.assign(tenure_months=frame["churned"]), "binary")
    assert line.startswith(
        "column 'tenure_months' failed not a copy of the label (one value per class of 'churned' in "
        "every row: '0' with class '0', '1' with class '1'; a model would learn the answer from it"
    ), line
    assert line.endswith(f"{FIX}): 400 value(s), e.g. ['0', '1']"), line
    # The same classes as a yes/no: True for churned, False for not.
    (line,) = _lines(frame.assign(paperless_billing=frame["churned"] == 1), "binary")
    assert "'False' with class '0', 'True' with class '1'" in line, line


def test_a_class_label_written_as_a_code_is_named() -> None:
    frame = table("multiclass", 400)
    (line,) = _lines(frame.assign(plan_tier=frame["churned"].map(CODES)), "multiclass")
    assert line.startswith("column 'plan_tier' failed not a copy of the label ("), line
    assert "'premium' with class 'gold'" in line and FIX in line, line


def test_a_regression_label_copied_into_a_feature_is_named() -> None:
    frame = table("regression", 400)
    frame = frame[frame["churned"].between(0, 1_000)]  # within monthly_charges' range
    (line,) = _lines(frame.assign(monthly_charges=frame["churned"]), "regression")
    start = "column 'monthly_charges' failed not a copy of the label ('churned' in every row; "
    assert line.startswith(start) and FIX in line, line


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_feature_off_the_label_in_a_later_chunk_is_no_copy(task: str) -> None:
    """One differing row, in the second chunk, is enough: a strong feature is no copy."""
    frame = table(task, 400)
    column = "tenure_months" if task == "binary" else "monthly_charges"
    frame = frame[frame["churned"].between(0, 1_000)].reset_index(drop=True)
    copy = frame["churned"].to_numpy().copy()
    copy[-1] = 1 - copy[-1] if task == "binary" else 0.5  # the last row, in the second chunk
    frame[column] = copy
    findings = Findings(params_for(PARAMS, task))
    raw = _raw(frame)
    findings.add(raw.iloc[:200])
    findings.add(raw.iloc[200:])
    assert findings.problems() == []
