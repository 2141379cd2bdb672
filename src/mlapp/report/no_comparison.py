"""The report when there is no like-for-like comparison: no model at the base yet, another task,
label or classes, too few rows to compare on, or the PR's own outputs are stale. It becomes the
PR comment, so it says why; a stale report.json is never left beside it (``run.clear``).
"""

from __future__ import annotations

from mlapp.markdown_table import code_cell
from mlapp.report.markdown import FOOTER
from mlapp.report.schema import NO_COMPARISON
from mlapp.report.task_markdown import table

THEN = "Review this PR by these numbers; the PRs after it compare again."


def render(reason: str, metrics: dict[str, float], metrics_file: str, stale: bool = False) -> str:
    """Why, then the PR's model by its own test metrics, no gate. ``stale``: the PR's outputs predate
    its params, code or data, so its metrics.json is not its model's either: not shown."""
    rows = [] if stale else [[code_cell(name), f"{value:.4g}"] for name, value in metrics.items()]
    missing = "stale like the model, not shown" if stale else "not in this tree"
    then = "Run `uv run dvc repro` and commit: the report then compares." if stale else THEN
    evidence = table(["metric", "PR"], rows, "lr") if rows else [f"(`{metrics_file}`: {missing})", ""]
    return (
        "\n".join(
            [
                NO_COMPARISON,
                "",
                "This PR's model cannot be compared with the base's:",
                "",
                *(f"    {line}" for line in reason.splitlines()),  # an indented block: shown as written
                "",
                f"The PR's model on its own test rows (`{metrics_file}`); the quality gate is not applied:",
                "",
                *evidence,
                then,
                "",
                FOOTER,
            ]
        )
        + "\n"
    )
