"""The curves section of the PR report: operating points, confusion, Mermaid charts, calibration.

Split from mlapp.report.markdown (which assembles the sections); same pure-function contract:
Markdown lines from report.json data.
"""

from __future__ import annotations

from typing import Any

from mlapp.markdown_table import code_cell
from mlapp.report import task_markdown

COLORS = "#1f77b4, #ff7f0e"  # matplotlib's first two colours: base blue, PR orange, as in the PNGs
ROC_AT_FPR = (0.01, 0.05, 0.1, 0.2)
PRECISION_AT_RECALL = (0.25, 0.5, 0.75)


def _at(points: list[dict[str, float]], x: str, y: str, at: float) -> float:
    """The curve's y at the grid point nearest to ``at`` (curves use a fixed grid)."""
    return min(points, key=lambda p: abs(p[x] - at))[y]


def curves(report: dict[str, Any], compact: bool) -> list[str]:
    """The binary task's section (the others have their own): operating points and the confusion
    matrices, then, unless ``compact``, the charts and calibration; a pointer to the PNGs last."""
    if report.get("task", "binary") != "binary":  # multiclass and regression: their own section
        return task_markdown.section(report, compact)
    base, pr = report["curves"]["base"], report["curves"]["pr"]
    header = ["operating point", "base", "PR"]
    lines = ["#### Curves and errors", "", *task_markdown.table(header, _operating_points(base, pr))]
    lines += _confusion(base["confusion"], pr["confusion"], report["classes"])
    if not compact:
        lines += _charts(base, pr, report["calibration_bins"])
    lines += [
        "<sub>PNG plots (ROC, precision-recall, calibration, confusion) are in the workflow artifact "
        "`pr-report`, next to `report.json`.</sub>",
        "",
    ]
    return lines


def _operating_points(base: dict[str, Any], pr: dict[str, Any]) -> list[list[str]]:
    """Each model's TPR at a few false positive rates and precision at a few recalls."""
    return [
        [
            f"TPR at FPR {f:.0%}",
            f"{_at(base['roc'], 'fpr', 'tpr', f):.3f}",
            f"{_at(pr['roc'], 'fpr', 'tpr', f):.3f}",
        ]
        for f in ROC_AT_FPR
    ] + [
        [
            f"precision at recall {r:.0%}",
            f"{_at(base['pr'], 'recall', 'precision', r):.3f}",
            f"{_at(pr['pr'], 'recall', 'precision', r):.3f}",
        ]
        for r in PRECISION_AT_RECALL
    ]


def _charts(base: dict[str, Any], pr: dict[str, Any], calibration_bins: int) -> list[str]:
    """The ROC and precision-recall charts, folded, and the calibration table."""
    return [
        "<details><summary>ROC and precision-recall charts (base blue, PR orange)</summary>",
        "",
        *_chart(
            "ROC",
            "false positive rate",
            "true positive rate",
            "fpr",
            "tpr",
            base["roc_chart"],
            pr["roc_chart"],
        ),
        *_chart(
            "Precision-recall", "recall", "precision", "recall", "precision", base["pr_chart"], pr["pr_chart"]
        ),
        "</details>",
        "",
        *_calibration(base["calibration"], pr["calibration"], calibration_bins),
    ]


def _chart(
    title: str,
    x_label: str,
    y_label: str,
    x: str,
    y: str,
    base: list[dict[str, float]],
    pr: list[dict[str, float]],
) -> list[str]:
    def series(points: list[dict[str, float]]) -> str:
        return "[" + ", ".join(f"{p[y]:.3f}" for p in points) + "]"

    init = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "' + COLORS + '"}}}}%%'
    return [
        "```mermaid",
        init,
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "{x_label}" {base[0][x]:g} --> {base[-1][x]:g}',
        f'    y-axis "{y_label}" 0 --> 1',
        f"    line {series(base)}",
        f"    line {series(pr)}",
        "```",
        "",
    ]


def _confusion(base: list[dict[str, Any]], pr: list[dict[str, Any]], classes: list[str]) -> list[str]:
    """The two classes as the label names them: 0/1, no/yes, "<=50K"/">50K"."""

    def cell(cells: list[dict[str, Any]], actual: str, predicted: str) -> str:
        return f"{next(c['count'] for c in cells if c['actual'] == actual and c['predicted'] == predicted):,}"

    negative, positive = classes
    rows = [
        [f"actual {code_cell(a)}", *(cell(side, a, p) for side in (base, pr) for p in (negative, positive))]
        for a in (negative, positive)
    ]
    header = ["confusion (at each model's threshold)"] + [
        f"{side}: pred {code_cell(p)}" for side in ("base", "PR") for p in (negative, positive)
    ]
    return task_markdown.table(header, rows)


def _calibration(base: list[dict[str, Any]], pr: list[dict[str, Any]], count: int) -> list[str]:
    by_bin = {row["bin"]: row for row in base}, {row["bin"]: row for row in pr}
    bins = sorted(by_bin[0].keys() | by_bin[1].keys())

    def cell(rows: dict[int, dict[str, Any]], b: int) -> str:
        row = rows.get(b)
        if row is None:
            return "—"
        return f"{row['mean_predicted']:.3f} / {row['fraction_positive']:.3f} ({row['count']:,})"

    table = task_markdown.table(
        ["score bin", "base: predicted / observed (rows)", "PR: predicted / observed (rows)"],
        [[f"{b / count:.1f} to {(b + 1) / count:.1f}", cell(by_bin[0], b), cell(by_bin[1], b)] for b in bins],
    )
    return ["<details><summary>Calibration by score bin</summary>", "", *table, "</details>", ""]
