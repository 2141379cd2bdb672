"""A batch validated like training data, chunk by chunk, its problems those of the whole batch.

The validate stage's parsing and pandera checks (``mlapp.stages.validate_rules``) run on each
chunk of the batch; the problems merge as the validate stage's do (``mlapp.stages.findings``:
counts add up, the first examples and rows are kept, a missing column is said once), so they
name the same column, rule, count, values and 0-based rows of the file as checking the whole
batch at once. What needs every row is counted across chunks: the row count
(``monitor.min_rows``), duplicate ids (``Ids``: 24 bytes a row, not the ids' text), the hint a
value that did not parse gets and which event times fail (the fewer of those with a UTC offset
and those without, in the batch): ``ParseFailures``, the validate stage's. The columns are the
last chunk's (a log's chunks have its keys so far).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlapp.cells import BATCH_LABEL_FIX
from mlapp.csv_names import look_alikes
from mlapp.labels import label_text
from mlapp.monitor.repeats import Repeats
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.problems import CHECK_WORDS, REPEATS
from mlapp.schema import raw_schema
from mlapp.stages.findings import UNIQUE, group_order, merge
from mlapp.stages.parse_failures import ParseFailures
from mlapp.stages.validate_rules import (
    TABLE_CHECKS,
    column_problems,
    parse_columns,
    placeholder_fixes,
    rule_groups,
    too_few_rows,
    whole_number_columns,
    worded,
)


def batch_schema(params: Params) -> pa.DataFrameSchema:
    """The raw table's schema with id, event time, group and label optional; unknown labels allowed.

    The label is nullable so that rows whose outcome is not known yet can sit next to
    labeled ones: a prediction log gets its ground truth joined in late. A class label is
    kept as text (``label_text``), a regression label as float.
    """
    data = params.data
    keys = filter(None, [data.id_column, data.time_column, data.group_column])
    optional: dict[str, dict[str, Any]] = {key: {"required": False} for key in keys}
    dtype = "float64" if params.task == "regression" else "object"
    optional[data.label] = {"required": False, "nullable": True, "dtype": dtype}
    return raw_schema(data, params.task).update_columns(optional)


def _look_alike(found: Problem, others: list[Any]) -> Problem:
    """A missing column's problem naming the batch's column that differs from it only in case,
    spaces or Unicode form (NFD 'größe' for 'größe' looks the same on screen), as validate does."""
    if found.check != CHECK_WORDS["column_in_dataframe"]:
        return found
    return replace(found, check=found.check + look_alikes(found.values, others))


class Ids:
    """A batch's ids, chunk by chunk, as 8-byte hashes (with their rows, and sorted: 24 bytes a
    row): which repeat, and where, as pandera's ``unique`` reports them on the whole batch. A
    repeat is seen as its chunk arrives (against the hashes so far), which keeps its text for the
    report. Two distinct ids sharing a 64-bit hash (odds about rows² / 2⁶⁵: 1 in 10 million at 2
    million rows) would be reported as a repeat."""

    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.seen = np.empty(0, dtype=np.uint64)  # every hash so far, sorted
        self.names: dict[int, Any] = {}  # a repeated id's text by its hash

    def add(self, ids: pd.Series) -> None:
        hashes = pd.util.hash_array(ids.to_numpy(dtype=object))
        self.hashes.append(hashes)
        self.rows.append(ids.index.to_numpy())
        repeated = pd.Series(hashes).duplicated(keep=False).to_numpy()  # within the chunk
        if self.seen.size:  # ... or of an earlier chunk's
            at = np.minimum(np.searchsorted(self.seen, hashes), self.seen.size - 1)
            repeated = repeated | (self.seen[at] == hashes)
        for key, name in zip(hashes[repeated].tolist(), ids.to_numpy(dtype=object)[repeated], strict=True):
            self.names.setdefault(key, name)
        # Two sorted runs: a stable sort merges them in one pass.
        self.seen = np.sort(np.concatenate([self.seen, np.sort(hashes)]), kind="stable")

    def problem(self, column: str, limit: int) -> Problem | None:
        """Every row whose id occurs more than once: the first rows, and the first ids in order."""
        if not self.names:
            return None
        hashes = np.concatenate(self.hashes)
        where = np.flatnonzero(np.isin(hashes, np.fromiter(self.names, dtype=np.uint64)))
        rows = np.concatenate(self.rows)[where[:limit]]
        values = [self.names[key] for key in pd.unique(hashes[where])[:limit].tolist()]
        return Problem(column, UNIQUE, len(where), values, [int(r) for r in rows])


class BatchCheck:
    """Feed it the batch chunk by chunk (``add``: each indexed by its 0-based rows in the file),
    then ask for ``problems``."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.schema = batch_schema(params)
        self.id_column = params.data.id_column
        # Duplicate ids can sit in different chunks: checked once over all of them (problems()).
        self.chunk_schema = self.schema
        if self.id_column and self.id_column in self.schema.columns:
            self.chunk_schema = self.schema.update_column(self.id_column, unique=False)
        self.limit = params.validate_.max_failure_examples
        # A "?" label: not known yet, not a FEATURES matter; a nullable feature: data.missing_values alone.
        self.fixes = placeholder_fixes(self.schema, params.data.label, BATCH_LABEL_FIX)
        self.whole = whole_number_columns(self.schema)
        self.rows = 0
        # Values that did not parse: their hint, and which event times fail, are the whole batch's.
        self.unparsed = ParseFailures(self.schema, self.limit, params.data.decimal, self.fixes, {})
        self.missing: dict[str, Problem] = {}
        self.rules: dict[tuple[Any, Any], Problem] = {}
        self.ids = Ids()
        self.repeats = Repeats()  # judged against the reference's share (monitor.run)
        self.others: list[Any] = []  # the batch's columns the schema does not know
        self.absent: set[str] = set()  # the schema's columns the batch has none of (so far)

    def add(self, frame: pd.DataFrame, unseen: Collection[str] = ()) -> pd.DataFrame:
        """Check one chunk; its typed rows (as parsed, when it failed). ``unseen``: its columns of
        missing values that no row of the batch has had so far (a log's, ``Log.unseen``)."""
        params, label = self.params, self.params.data.label
        if params.task != "regression" and label in frame.columns:
            frame = frame.assign(**{label: label_text(frame[label])})
        self.rows += len(frame)
        # Each chunk has the columns of the batch so far: the last one's are the batch's.
        self.others = [name for name in frame.columns if name not in self.schema.columns]
        self.absent = {name for name in self.schema.columns if name not in frame.columns or name in unseen}
        typed, _, missing = parse_columns(frame, self.schema, self.limit, params.data.decimal, self.fixes)
        self.unparsed.add(frame, typed)
        for name, found in missing.items():
            self.missing[name] = merge(self.missing.get(name), found, self.limit)
        try:
            typed = self.chunk_schema.validate(typed, lazy=True)
        except pa.errors.SchemaErrors as exc:
            for key, found in rule_groups(exc.failure_cases, self.limit, self.whole).items():
                if key[1] in TABLE_CHECKS:  # the columns: the last chunk's are the batch's
                    self.rules[key] = found
                elif not (key in self.rules and not found.rows):  # a whole-column failure: once
                    self.rules[key] = merge(self.rules.get(key), found, self.limit)
        self.repeats.add(typed)
        if self.id_column and self.id_column in typed.columns:
            ids = typed[self.id_column]  # a missing id repeats nothing: "no missing values" names it
            self.ids.add(ids[ids.notna()].astype("str"))  # as pandera's check sees them
        return typed

    def failing(self) -> bool:
        """A problem already found in some chunk (the batch fails whatever the rest holds)."""
        return self.unparsed.failing() or any(self._present())

    def _present(self) -> tuple[dict[str, Problem], dict[tuple[Any, Any], Problem]]:
        """The missing values and failed rules, less those of a column the batch has none of (so far):
        a log's key that no record has is a missing column, not an earlier chunk's missing values."""
        missing = {name: found for name, found in self.missing.items() if name not in self.absent}
        return missing, {key: found for key, found in self.rules.items() if key[0] not in self.absent}

    def problems(self) -> list[Problem]:
        """Every problem of the whole batch, in the order a whole-batch check reports them."""
        missing, rules = self._present()
        found = column_problems(self.schema, self.unparsed.problems(), missing, set())
        # A value that did not parse, or is missing, fails pandera's type and null checks again: said once.
        reported = {p.column for p in found}
        ids = self.id_column if self.id_column not in self.absent else None
        if ids and (duplicates := self.ids.problem(ids, self.limit)):
            rules[(self.id_column, UNIQUE)] = duplicates
        for key in sorted(rules, key=group_order):
            if not (str(key[0]) in reported and str(key[1]).startswith(REPEATS)):
                found.append(_look_alike(worded(key, rules[key], self.fixes), self.others))
        return found + too_few_rows(self.rows, self.params.monitor.min_rows, "monitor.min_rows")
