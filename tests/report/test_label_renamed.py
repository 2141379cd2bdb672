"""A PR that renames the label column (data.label and the data file's column) is compared, and
the report says so; a PR whose label is another column is still refused.

Both models predicted the same thing, but the report stopped with "the label changed ... compare
nothing" (from the base's params.yaml, before the base's model was even obtained). Only the base's
test rows tell a rename (the same values, row for row) from another column.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.errors import UserError
from mlapp.model import ModelSpec
from mlapp.params import load_params
from mlapp.report import rows, target, verdict
from mlapp.report.champion import Champion
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
RENAMED = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"label": "churn"})})


def _model(label: str) -> Any:
    spec = ModelSpec(["charges", "plan"], {"plan": ["a", "b"]}, label, 0.5, 0)
    return SimpleNamespace(task="binary", spec=spec, scores=lambda frame: (frame["charges"] / 100).to_numpy())


def _frame(ids: range, label: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "charges": rng.uniform(0, 100, len(ids)).round(2),
            "plan": rng.choice(["a", "b"], len(ids)),
            label: rng.integers(0, 2, len(ids)),
        }
    )


def _champion(test: pd.DataFrame) -> Champion:
    return Champion("base", _model("churned"), _frame(range(100, 140), "churned", 2), test, "", [], True, 0.1)


def test_a_renamed_label_is_compared_and_said() -> None:
    base_test = _frame(range(40), "churned", 1)
    pr_test = base_test.rename(columns={"churned": "churn"})
    scored = rows.scored(_champion(base_test), _model("churn"), pr_test, RENAMED)
    assert scored.y.tolist() == base_test["churned"].tolist()
    assert np.array_equal(scored.base, scored.pr)  # one model under two names: the same scores
    assert scored.notes == [
        "The label column was renamed from `churned` to `churn` (data.label): its values are the base's "
        "on all 40 test rows paired by `customer_id`, so both models are compared against one truth."
    ]


def test_another_column_as_the_label_is_refused_naming_the_rows_that_differ() -> None:
    """data.label switched to another 0/1 column: scoring the base's churn model against it made
    the PR "better" by 0.35 AUC."""
    base_test = _frame(range(40), "churned", 1)
    pr_test = base_test.assign(churn=1 - base_test["churned"]).drop(columns="churned")
    with pytest.raises(UserError) as caught:
        rows.scored(_champion(base_test), _model("churn"), pr_test, RENAMED)
    assert str(caught.value) == (
        "the label changed (base 'churned', PR 'churn': data.label): its values differ from the base's "
        "'churned' on 40 of the 40 test rows paired by `customer_id`: the base model predicts another "
        "column, so its scores against the PR's labels compare nothing"
    )
    unpaired = pr_test.assign(customer_id=pr_test["customer_id"] + 1000)  # no row to tell by
    with pytest.raises(UserError, match="no PR test row pairs with a base test row holding 'churned'"):
        rows.scored(_champion(base_test), _model("churn"), unpaired, RENAMED)


def test_a_label_change_waits_for_the_bases_rows_and_a_task_change_does_not() -> None:
    shipped = (REPO / "params.yaml").read_text()
    verdict.refuse_early(shipped, _model("churn"), RENAMED)  # not refused from params.yaml alone
    regression = SimpleNamespace(
        task="regression", spec=ModelSpec(["charges"], {}, "churn", None, 0, "regression", [])
    )
    with pytest.raises(UserError, match="the base model is a binary model and the PR's a regression"):
        verdict.refuse_early(shipped, regression, RENAMED)
    assert target.of_params(shipped) == target.Target("binary", "churned", None)
