"""The "curves and errors" section of the PR comment for multiclass and regression models.

Binary keeps its ROC/PR/calibration section in ``markdown``; here each task gets what a
reviewer of that task looks at: the N x N confusion matrices, or the error distribution.
"""

from __future__ import annotations

from typing import Any

from mlapp.markdown_table import code_cell, code_span, markdown_table


def table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table and the blank line that ends it (text right after would join its last row)."""
    return [*markdown_table(header, rows, align), ""]


def _confusion(title: str, cells: list[dict[str, Any]], classes: list[str]) -> list[str]:
    count = {(str(c["actual"]), str(c["predicted"])): int(c["count"]) for c in cells}
    rows = [[f"actual {code_cell(a)}", *(f"{count.get((a, p), 0):,}" for p in classes)] for a in classes]
    return [f"**{title}**", "", *table(["", *(f"pred {code_cell(p)}" for p in classes)], rows)]


def never_predicted(cells: list[dict[str, Any]], classes: list[str]) -> list[str]:
    """Classes no test row was predicted as: their precision is undefined."""
    predicted = {str(c["predicted"]) for c in cells if int(c["count"])}
    return [name for name in classes if name not in predicted]


def undefined_precision(report: dict[str, Any]) -> dict[str, set[str]]:
    """Per model ("base", "pr"), the metric rows that are the precision of a class it never
    predicts: undefined, though scikit-learn (``zero_division=0``), metrics.json and the gate say 0."""
    task, classes = report.get("task", "binary"), report["classes"]
    undefined: dict[str, set[str]] = {}
    for side in ("base", "pr"):
        cells = report["curves"][side].get("confusion", [])  # none for regression
        missing = never_predicted(cells, classes) if cells else []
        if task == "binary":  # its "precision" is the positive class's
            undefined[side] = {"precision"} if classes[-1] in missing else set()
        else:
            undefined[side] = {f"per_class.{name}.precision" for name in missing}
    return undefined


def multiclass(report: dict[str, Any], compact: bool) -> list[str]:
    base, pr = report["curves"]["base"], report["curves"]["pr"]
    classes = report["classes"]
    lines = ["#### Errors by class", ""]
    if not compact:
        lines += _confusion("Base: confusion matrix (test rows)", base["confusion"], classes)
    lines += _confusion("PR: confusion matrix (test rows)", pr["confusion"], classes)
    for side, curves in (("base", base), ("PR", pr)):
        if missing := never_predicted(curves["confusion"], classes):
            names = ", ".join(code_span(name) for name in missing)  # prose: no table escape
            lines += [f"The {side} model predicts no test row as {names}: its precision is undefined "
                      "(n/a in the metrics table).", ""]  # fmt: skip
    lines += [
        "<sub>Each row is an actual class; the diagonal holds the correct predictions. Per-class "
        "precision and recall, with intervals, are in the metrics table. PNG plots (confusion) are in "
        "the workflow artifact `pr-report`, next to `report.json`.</sub>",
        "",
    ]
    return lines


def regression(report: dict[str, Any], compact: bool) -> list[str]:
    base, pr = report["curves"]["base"], report["curves"]["pr"]
    rows = [
        [f"absolute error, {q} of rows at most", f"{base['abs_error_quantiles'][k]:.4g}",
         f"{pr['abs_error_quantiles'][k]:.4g}"]
        for k, q in (("p50", "50%"), ("p90", "90%"), ("p99", "99%"))
    ]  # fmt: skip
    rows.append(["bias (mean of predicted - actual)", f"{base['bias']:+.4g}", f"{pr['bias']:+.4g}"])
    return [
        "#### Errors",
        "",
        *table(["", "base", "PR"], rows),
        "<sub>PNG plots (predicted vs actual, residual distribution) are in the workflow artifact "
        "`pr-report`, next to `report.json`.</sub>",
        "",
    ]


def section(report: dict[str, Any], compact: bool) -> list[str]:
    return multiclass(report, compact) if report["task"] == "multiclass" else regression(report, compact)
