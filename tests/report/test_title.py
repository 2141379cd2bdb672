"""The report's title line: what a reviewer reads first in the PR comment."""

from __future__ import annotations

import pytest

from mlapp.report import markdown, schema
from tests.report.test_schema import _report


@pytest.mark.parametrize(
    ("identical", "title"),
    [(True, "⚪ same predictions as base"), (False, "⚪ no significant change")],
)
def test_a_model_that_changed_no_prediction_is_titled_so(identical: bool, title: str) -> None:
    """A PR that rebuilt the same model bytes was titled "no significant change", the title of a
    model whose predictions moved within the noise, above "identical predictions on every test row"."""
    report = _report(True)
    report["verdict"] = schema.SAME
    report["metrics"][0].update(pr=0.80, delta=0.0, ci_low=0.0, ci_high=0.0, change=schema.SAME)
    report["gate"]["policy"].update(require_significant=True, max_regression=0.01, min_primary=0.7)
    report["bootstrap"]["identical_predictions"] = identical
    lines = markdown.headline(report)
    assert lines[0] == f"### Model report: {title} · gate ✅ passed"
    assert lines[2].startswith("**Verdict: no significant change** on roc_auc")  # the gate's verdict, kept
