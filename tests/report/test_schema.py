"""report.json is typed: the writer validates it, `mlapp report gate` reads it through the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlapp.errors import UserError
from mlapp.report import gate, schema
from mlapp.report.schema import GateResult, MetricDelta


def _report(passed: bool) -> dict[str, Any]:
    rows = [
        MetricDelta("roc_auc", 0.80, 0.78, -0.02, -0.03, -0.01, True, schema.WORSE),
        MetricDelta("log_loss", 0.40, 0.41, 0.01, 0.0, 0.02, False, schema.SAME),
    ]
    reasons = [] if passed else ["roc_auc dropped by 0.0200, more than the allowed 0.0100"]
    result = GateResult(passed, reasons, ["a note"], {"primary_metric": "roc_auc"}, "base params.yaml")
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "verdict": schema.WORSE,
        "primary_metric": "roc_auc",
        "task": "binary",
        "classes": ["0", "1"],
        "gate": result.as_dict(),
        "metrics": [r.as_dict() for r in rows],
        "bootstrap": {
            "resamples": 200,
            "seed": 1,
            "confidence": 0.95,
            "rows": 100,
            "paired_by": None,
            "positives": 20,
            "identical_predictions": False,
        },
        "warnings": [],
        "changes": {},
        "curves": {},
        "models": {},
        "lineage": {},
        "drift_rules": {},
        "calibration_bins": 10,
        "run": {},
    }


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("passed", [True, False])
def test_gate_reads_the_typed_report(
    passed: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _report(passed)
    assert schema.dump(schema.parse(data)) == data
    assert schema.parse(data).primary().pr == 0.78
    assert gate.check(_write(tmp_path, data)) == (0 if passed else 1)
    out = capsys.readouterr()
    if passed:
        assert out.out == "quality gate passed\n  note: a note\n"
    else:
        assert (
            out.err == "quality gate FAILED:\n  - roc_auc dropped by 0.0200, more than the allowed 0.0100\n"
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r["gate"].update(ok=r["gate"].pop("passed")), "gate"),
        (lambda r: r["metrics"][0].update(lower=r["metrics"][0].pop("ci_low")), "metrics.0"),
        (lambda r: r.update(schema=r.pop("schema_version")), "schema_version"),  # a version-1 file
        (lambda r: r.update(primary_metric="f1"), "primary metric 'f1' has no row"),
        (lambda r: r["bootstrap"].pop("rows"), "bootstrap.rows"),
        (lambda r: r["bootstrap"].pop("paired_by"), "bootstrap.paired_by"),
    ],
)
def test_a_renamed_or_missing_key_fails_loudly(change: Any, field: str, tmp_path: Path) -> None:
    data = _report(True)
    change(data)
    with pytest.raises(schema.ReportFormatError, match=r"report\.json") as info:
        gate.check(_write(tmp_path, data))
    assert field in str(info.value)


def test_missing_report_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"run `make report` \(mlapp report run\) first"):
        gate.check(tmp_path / "report.json")


def test_a_report_that_made_no_comparison_is_named_by_the_gate(tmp_path: Path) -> None:
    """`make report BASE=typo` writes the "No comparison" report.md and no report.json; `make gate`
    then said to run `make report` first, which had just run."""
    from mlapp.report import no_comparison

    text = no_comparison.render("base ref 'typo' not found", {"roc_auc": 0.77}, "metrics/metrics.json")
    (tmp_path / "report.md").write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as refused:
        gate.check(tmp_path / "report.json")
    assert (
        str(refused.value)
        == f"no gate decision: the last report made no comparison ({tmp_path / 'report.md'} says why)"
    )
