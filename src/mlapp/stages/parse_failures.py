"""Values that did not parse, over a table read in chunks, as parsing the whole table reports them.

Two things about a column's failed parse depend on every chunk, not the chunk a value sits in:
its hint (``parse_columns`` words the rule from the most telling value of the column, chunk 1's
"abc" and chunk 3's "?" give the "?" hint; the levels hint needs no value of the column to parse),
and, for a time, which values fail: with a UTC offset on some values only, the fewer kind fails
(``parse_values``), and only the whole column's count says which kind that is. So a time column
keeps both outcomes until the end; every column keeps a few values that decide its hint
(``witnesses``), not its failing values. The validate stage and the monitor merge chunks so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd
import pandera.pandas as pa

from mlapp.cell_times import has_offset
from mlapp.cells import NULLABLE_FIX, parse_hint, parse_values, value_hints
from mlapp.problem_row import Problem
from mlapp.problems import problem
from mlapp.schema import FEATURES
from mlapp.stages.validate_rules import LEVELS_HINT, id_hints


def merge(old: Problem | None, new: Problem, limit: int) -> Problem:
    """The same check failing in a later chunk: counts add up, the first distinct examples stay."""
    if old is None:
        return new
    values, rows = list(dict.fromkeys(old.values + new.values))[:limit], (old.rows + new.rows)[:limit]
    return Problem(old.column, old.check, old.count + new.count, values, rows)


def witnesses(values: pd.Series, bad: pd.Series, name: str, dtype: str, decimal: str) -> pd.DataFrame:
    """Of a column's values, the few (in row order) that decide its parse rule as all of them do:
    the first that parsed, the first two distinct that did not, and the first that each hint
    explains (``parse_hint`` gives the most telling hint any value has; ``LEVELS_HINT`` needs every
    value unparsed and two distinct ones). Marked ``bad`` (did not parse) or not."""
    failed = values[bad]
    # As text to be compared: a list is unhashable; str(), not astype(str): bytes need not be UTF-8.
    picks = [*values.index[~bad & values.notna()][:1], *failed.map(str).drop_duplicates().index[:2]]
    if len(failed):
        picks += list(value_hints(name, failed, dtype, decimal, NULLABLE_FIX).drop_duplicates().index)
    kept = values.index[values.index.isin(picks)]  # in row order
    return pd.DataFrame({"value": values.loc[kept], "bad": bad.loc[kept]})


def offset_kinds(
    values: pd.Series, parsed: pd.Series, dtype: str, decimal: str
) -> tuple[int, dict[bool, pd.Series]]:
    """A chunk of a time column's values (``parsed``: as ``parse_values`` read the chunk) with a
    UTC offset (how many), and which fail as in the whole column (``parse_values``: some with an
    offset and some without, the fewer kind fails, fewer in the table or batch) when those with an
    offset are the fewer (True), or those without (False)."""
    zoned = has_offset(values)  # as parse_values tells
    present = values.notna()
    bad = present & parsed.isna()  # a chunk of one kind: as read
    if zoned.any() and not zoned[present].all():  # each kind read on its own
        bad = parse_values(values.where(zoned), dtype, decimal)[1]
        bad |= parse_values(values.where(~zoned), dtype, decimal)[1]
    return int(zoned.sum()), {True: bad | (present & zoned), False: bad | (present & ~zoned)}


@dataclass
class Outcome:
    """One way a column's parse can turn out: its failing values merged so far, and its witnesses."""

    found: Problem | None = None
    kept: pd.DataFrame | None = None
    only: int = 0  # a time's values so far failing for their kind alone (``_telling``)


class ParseFailures:
    """Feed it each chunk as read and as ``parse_columns`` parsed it (``add``), then ask for the
    whole table's parse problems (``problems``: by column, worded as ``parse_columns`` words them).
    ``fixes``, ``unexplained``: ``parse_columns``'s."""

    def __init__(
        self,
        schema: pa.DataFrameSchema,
        limit: int,
        decimal: str,
        fixes: Mapping[str, str],
        unexplained: Mapping[str, str],
    ) -> None:
        self.dtypes = {name: str(column.dtype) for name, column in schema.columns.items()}
        self.limit, self.decimal, self.fixes = limit, decimal, fixes
        self.unexplained = {**id_hints(schema), **unexplained}
        self.times = {name for name, dtype in self.dtypes.items() if dtype.lower().startswith("datetime")}
        # A time: [its values with a UTC offset fail, those without fail]; any other column: one outcome.
        self.outcomes = {
            name: [Outcome() for _ in range(2 if name in self.times else 1)] for name in self.dtypes
        }
        self.offsets = dict.fromkeys(self.times, 0)  # values with a UTC offset...
        self.present = dict.fromkeys(self.times, 0)  # ...of the values present

    def add(self, frame: pd.DataFrame, parsed: pd.DataFrame) -> None:
        for name, dtype in self.dtypes.items():
            if name not in frame.columns:
                continue  # reported by the schema as a missing column
            values = frame[name]
            every = pd.Series(True, index=values.index)
            failing = (
                self._times(name, values, parsed[name], self.outcomes[name])
                if name in self.times
                else [(values.notna() & parsed[name].isna(), every)]
            )
            for outcome, (bad, telling) in zip(self.outcomes[name], failing, strict=True):
                if bad.any():
                    outcome.found = merge(
                        outcome.found, problem(values[bad], f"parse as {dtype}", self.limit), self.limit
                    )
                if not bad.any() and outcome.kept is not None and not outcome.kept["bad"].all():
                    continue  # a value parsed already: one more chunk of them decides nothing
                if outcome.kept is not None and not telling.any():
                    continue  # no value of this chunk can be a witness: the kept ones stay
                kept = witnesses(values[telling], bad[telling], name, dtype, self.decimal)
                if outcome.kept is not None:
                    both = pd.concat([outcome.kept, kept])
                    kept = witnesses(both["value"], both["bad"], name, dtype, self.decimal)
                outcome.kept = kept

    def _times(
        self, name: str, values: pd.Series, parsed: pd.Series, outcomes: list[Outcome]
    ) -> list[tuple[pd.Series, pd.Series]]:
        """A chunk's failing times if the table's values with a UTC offset are the fewer, and if
        those without are (``offset_kinds``); each with the values worth a witness (``_telling``)."""
        zoned, failing = offset_kinds(values, parsed, self.dtypes[name], self.decimal)
        self.offsets[name] += zoned
        self.present[name] += int(values.notna().sum())
        found = []
        for fewer, outcome in zip((True, False), outcomes, strict=True):
            only = failing[fewer] & ~failing[not fewer]
            found.append((failing[fewer], _telling(only, outcome.only)))
            outcome.only += int(only.sum())
        return found

    def _outcome(self, name: str) -> Outcome:
        """The whole column's outcome: a time's values with a UTC offset fail when they are fewer."""
        if name not in self.times:
            return self.outcomes[name][0]
        return self.outcomes[name][0 if self.offsets[name] * 2 < self.present[name] else 1]

    def failing(self) -> bool:
        """A value already failed whichever way the rest of the table turns out."""
        return any(all(outcome.found for outcome in outcomes) for outcomes in self.outcomes.values())

    def problems(self) -> dict[str, Problem]:
        found = {}
        for name, dtype in self.dtypes.items():
            outcome = self._outcome(name)
            if outcome.found is None or outcome.kept is None:
                continue
            kept = outcome.kept
            failed = kept.loc[kept["bad"], "value"]
            fix = self.fixes.get(name, NULLABLE_FIX)
            hint = parse_hint(name, failed, dtype, self.decimal, fix) or self.unexplained.get(name, "")
            if not hint and name in FEATURES and kept["bad"].all() and failed.nunique() > 1:
                hint = LEVELS_HINT
            found[name] = replace(outcome.found, check=f"parse as {dtype}{hint}")
        return found


def _telling(only: pd.Series, before: int = 0) -> pd.Series:
    """The values worth a witness when ``only`` fail for their kind alone (valid times with or without
    an offset): all but the third and later of those in the column (``before``: earlier chunks'),
    whose hint is the first's (ISO 8601's). On a table of one kind the other outcome fails every
    time: scanning them all for hints cost a quarter of validate's time, and two of every chunk's
    a quarter of a small chunk's."""
    return ~only | (only.cumsum() + before <= 2)
