"""GitHub Markdown tables, as the PR report and the monitor's report write them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

ALIGN_MARKS = {"l": ":--", "r": "--:", "c": ":-:"}
# CommonMark lets a backslash escape any ASCII punctuation: the character is then text, never
# markup (``**``, a ``<tag>``, a backtick) nor, in a GitHub table, a ``|`` that splits the row.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
    return "`" + _one_line(str(value)).replace("`", "'").replace("|", "\\|") + "`"


def text_cell(value: str) -> str:
    """Text from the data (a class name) shown as written in a table cell: no markup, one row."""
    return _PUNCTUATION.sub(r"\\\1", _one_line(value))


def _one_line(text: str) -> str:
    # A line break inside a cell ends the table row; the rest would spill out as loose text.
    return _LINE_BREAK.sub(" ", text)
