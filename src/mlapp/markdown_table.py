"""GitHub Markdown tables, as the PR report and the monitor's report write them, and a report cut to
the room of a comment."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

ALIGN_MARKS = {"l": ":--", "r": "--:", "c": ":-:"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BACKTICKS = re.compile(r"`+")
# Below this magnitude a metric reads best with 4 decimals (AUC 0.8123); above it, 4 decimals
# print noise (an RMSE of 2190790982358.2285), so significant digits take over.
_LARGE = 1e4


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


def code_span(value: object) -> str:
    """A name from the data (class, feature, column, file) as a CommonMark code span, in prose or
    a list: shown as written, never markup. Inside a code span nothing is parsed (no HTML, ``**``,
    link, ``@mention``, ``#12`` reference or ``$math$``) and a backslash is shown, so escaping is
    wrong there; a backtick in the name takes a longer fence instead, as CommonMark specifies."""
    text = _one_line(str(value))
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    # The renderer strips one space each side: it keeps a leading or trailing backtick apart
    # from the fence.
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_cell(value: object) -> str:
    """A value shown as code in a table cell: a code span whose ``|`` is escaped, the one escape
    GitHub reads inside a table's code span (the row is split before the span is parsed);
    None is a dash."""
    if value is None:
        return "—"
    return code_span(value).replace("|", "\\|")


def number(value: float | None, signed: bool = False) -> str:
    """A metric or a change of one, as the reports print it: 4 decimals, or 6 significant digits
    for a value of 10,000 or more in magnitude; None is a dash."""
    if value is None:
        return "—"
    sign = "+" if signed else ""
    return f"{value:{sign},.6g}" if abs(value) >= _LARGE else f"{value:{sign}.4f}"


def _one_line(text: str) -> str:
    # A line break inside a cell ends the table row; the rest would spill out as loose text.
    return _LINE_BREAK.sub(" ", text)


def cut_to(text: str, max_chars: int, whole: str) -> str:
    """``text`` within ``max_chars`` (a GitHub comment's room), a note in place of what is cut naming
    ``whole``, the artifact's file that holds it all: one wording for the report and the comment."""
    if len(text) <= max_chars:
        return text
    note = f"\n\n… (truncated to fit a GitHub comment; the full report is `{whole}` in the artifact)\n"
    return text[: max_chars - len(note)] + note
