"""One failed check as the reports carry it (validate's, the monitor's ``monitor.json``): the
record and its line, apart from ``mlapp.problems``, which finds them in tables with pandas, so the
monitor report's schema reads a report without importing pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The report's column for a check of the whole table or file, as a line says it.
WHOLE = {"<table>": "the table", "<file>": "the file"}


@dataclass
class Problem:
    """One failed check on one column, with a few examples."""

    column: str
    check: str
    count: int
    values: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def line(self) -> str:
        where = f" at rows {self.rows}" if self.rows else ""
        values = f", e.g. {self.values}" if self.values else ""
        # A check of the whole table or file (its row count, its encoding) has no values to count.
        whole = self.column in WHOLE and not self.values and not self.rows
        count = "" if whole else f": {self.count} value(s)"
        subject = WHOLE.get(self.column, f"column '{self.column}'")
        return f"{subject} failed {self.check}{count}{values}{where}"
