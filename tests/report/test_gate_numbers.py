"""Numbers from the base's params.yaml in the gate's block print as the rest of the comment does:
a bound of 0.8123456789 read "roc_auc ≥ 0.8123456789" above reasons that said 0.8123, and a base's
confidence was a raw 0.8123456789 in its note where every interval says "95% CI"."""

from __future__ import annotations

import yaml

from mlapp.report import markdown
from mlapp.report.policy import report_statistics
from mlapp.report.schema import SAME, MetricDelta
from tests.report.test_policy import PARAMS
from tests.report.test_schema import _report


def test_the_gate_rule_prints_the_bound_as_the_metrics_are_printed() -> None:
    report = _report(True)
    report["metrics"] = [MetricDelta("roc_auc", 0.8123456789, 0.83, 0.02, 0.01, 0.03, True, SAME).as_dict()]
    report["gate"]["policy"] = {**PARAMS.gate.model_dump(), "min_primary": 0.8123456789}
    text = "\n".join(markdown.headline(report))
    assert "roc_auc ≥ 0.8123; a drop" in text
    assert "0.8123456789" not in text


def test_a_bases_confidence_is_noted_as_a_percentage() -> None:
    base = yaml.safe_dump({"report": {**PARAMS.report.model_dump(mode="json"), "confidence": 0.8123456789}})
    _, notes = report_statistics(base, PARAMS)
    assert notes == [
        "This PR changes report.confidence from 81.23% to 95%; the base's applies until it is merged."
    ]


def test_a_confidence_just_below_one_is_not_noted_as_100_percent() -> None:
    """0.99999 is a valid report.confidence (below 1); four digits rounded it to "100%"."""
    base = yaml.safe_dump({"report": {**PARAMS.report.model_dump(mode="json"), "confidence": 0.99999}})
    _, notes = report_statistics(base, PARAMS)
    assert notes == [
        "This PR changes report.confidence from 99.999% to 95%; the base's applies until it is merged."
    ]
