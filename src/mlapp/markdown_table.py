"""GitHub Markdown tables, as the PR report and the monitor's report write them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ALIGN_MARKS = {"l": ":--", "r": "--:", "c": ":-:"}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """The lines of a GitHub Markdown table. ``align``: one of l/r/c per column (default: the
    first column left, the others right, as numbers read best)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} does not fit {len(header)} columns")
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(ALIGN_MARKS[a] for a in align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def code_cell(value: object) -> str:
    """A value shown as code in a table cell: ``<b>`` stays text, a ``|`` cannot split the row;
    None is a dash."""
    if value is None:
        return "—"
    return "`" + str(value).replace("`", "'").replace("|", "\\|") + "`"
