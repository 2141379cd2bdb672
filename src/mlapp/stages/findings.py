"""The validate stage's checks over a table read in chunks, merged into whole-table results.

Every problem comes out as checking the whole table at once would give it (same column,
check, count, first failing values and 0-based rows; a test compares both ways): per-value
rules run per chunk and merge (counts add up, the first examples and rows are kept); what
needs every row (duplicate ids, the share of missing values per column, the label's classes,
the row count) is counted across chunks. Only the id and label columns are kept whole for
that, never the table; each row's content is kept as one 8-byte hash (rows that repeat another).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc

from mlapp.cells import LABEL_FIX
from mlapp.csv_names import look_alikes
from mlapp.outputs import id_clash
from mlapp.params import Params
from mlapp.problems import REPEATS, written_missing
from mlapp.schema import FEATURES, raw_schema
from mlapp.stages.label_checks import label_problems, label_summary, prepare_label
from mlapp.stages.label_copies import LabelCopies
from mlapp.stages.parse_failures import ParseFailures, merge
from mlapp.stages.table_checks import Problem, check_null_overrides, column_roles, null_problems
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

UNIQUE = "field_uniqueness"  # pandera's name for a column's `unique=True`
# A repeated id is most often an entity's several rows (a panel), which data.group_column is for.
ID_FIX = (
    " (data.id_column names one row each: for an entity's several rows, such as a customer's months, "
    "set data.group_column to it and data.id_column to a column unique per row, or null; a row "
    "exported twice: drop the copy)"
)


TEXT_LABEL = " (a text label is a class: set task: binary or multiclass)"


def group_order(key: tuple[Any, Any]) -> tuple[tuple[bool, str], ...]:
    """The order of pandas' sorted groupby (missing keys last), which whole-table reports use."""
    return tuple((bool(pd.isna(part)), str(part)) for part in key)


class Findings:
    """Feed it the table chunk by chunk (``add``), then ask for ``problems`` and ``summary``."""

    def __init__(self, params: Params, integral_labels: bool | None = None) -> None:
        self.params = params
        self.schema = raw_schema(params.data, params.task)
        check_null_overrides(params)
        self.id_column = params.data.id_column
        # Duplicate ids can sit in different chunks: checked once over all of them (problems()).
        self.chunk_schema = (
            self.schema.update_column(self.id_column, unique=False) if self.id_column else self.schema
        )
        self.limit = params.validate_.max_failure_examples
        self.whole = whole_number_columns(self.schema)  # their failing values shown as written: 200
        self.missing_text = frozenset(params.data.missing_values)
        # A "?" label: data.missing_label, not FEATURES; a nullable feature: data.missing_values alone.
        self.fixes = placeholder_fixes(self.schema, params.data.label, LABEL_FIX)
        # A regression label no export habit explains ("gold"): the task, not the file, is wrong.
        self.unexplained = {params.data.label: TEXT_LABEL} if params.task == "regression" else {}
        self.integral = integral_labels
        self.rows = 0  # read
        self.labeled = 0  # kept by the missing-label policy
        self.dropped = 0
        self.label_missing: Problem | None = None
        self.nulls: dict[str, int] = {}
        # Values that did not parse: their hint, and which times fail, are the whole column's.
        self.unparsed = ParseFailures(
            self.schema, self.limit, params.data.decimal, self.fixes, self.unexplained
        )
        self.missing: dict[str, Problem] = {}
        self.rules: dict[tuple[Any, Any], Problem] = {}
        # Arrow arrays (and the ids' row numbers): no Python object per value, no index.
        self.ids: list[tuple[pa_arrow.Array, np.ndarray]] = []
        self.labels: list[pa_arrow.Array] = []
        self.label_rows: list[np.ndarray] = []  # their 0-based rows: a rare class's rows are named
        self.columns = 0
        self.missing_values: pd.Series | None = None
        self.row_hashes: list[np.ndarray] = []  # features and label: the model's view of a row
        self.values: dict[str, set[Any]] = {}  # up to two values per feature (constant or not)
        self.copies = LabelCopies(FEATURES, str(params.data.label), params.task)

    def add(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Check one chunk (indexed by its rows' 0-based numbers in the table); its typed rows."""
        label = self.params.data.label
        chunk = chunk.drop(columns=self.params.data.ignore_columns, errors="ignore")
        self.rows += len(chunk)
        labeled, dropped, problems = prepare_label(chunk, self.params, self.integral)
        self.dropped += dropped
        for found in problems:
            self.label_missing = merge(self.label_missing, found, self.limit)
        self.labeled += len(labeled)
        for name in self.schema.columns:
            if name in labeled.columns:
                self.nulls[name] = self.nulls.get(name, 0) + int(labeled[name].isna().sum())
        decimal = self.params.data.decimal
        parsed, _, missing = parse_columns(
            labeled, self.schema, self.limit, decimal, self.fixes, self.unexplained
        )
        self.unparsed.add(labeled, parsed)
        for name, found in missing.items():
            self.missing[name] = merge(self.missing.get(name), found, self.limit)
        typed = parsed
        try:
            typed = self.chunk_schema.validate(parsed, lazy=True)
        except pa.errors.SchemaErrors as exc:
            for key, found in rule_groups(exc.failure_cases, self.limit, self.whole).items():
                if (key[1] in TABLE_CHECKS or not found.rows) and key in self.rules:
                    continue  # a header or whole-column failure repeats in every chunk: once
                self.rules[key] = merge(self.rules.get(key), found, self.limit)
        if self.id_column in typed.columns:
            ids = typed[self.id_column].astype("str")  # as pandera's check sees them (a failed chunk: raw)
            self.ids.append((pa_arrow.array(ids, from_pandas=True), ids.index.to_numpy()))
        if label in typed.columns:
            self.labels.append(pa_arrow.array(typed[label], from_pandas=True))
            self.label_rows.append(typed.index.to_numpy())
        self.columns = len(typed.columns)
        counts = typed.isna().sum()
        self.missing_values = counts if self.missing_values is None else self.missing_values + counts
        content = [name for name in typed.columns if name in FEATURES or name == label]
        self.row_hashes.append(pd.util.hash_pandas_object(typed[content], index=False).to_numpy())
        self.copies.add(typed)
        for name in FEATURES:
            seen = self.values.setdefault(name, set())
            if name in typed.columns and len(seen) < 2:
                seen.update(typed[name].dropna().unique()[:2].tolist())
        return typed

    def failing(self) -> bool:
        """A problem already found in some chunk (the table fails whatever the rest holds)."""
        return bool(self.label_missing or self.unparsed.failing() or self.missing or self.rules)

    def _duplicates(self) -> Problem | None:
        """Every row whose id occurs more than once (as pandera's ``unique`` reports them)."""
        if not self.ids:
            return None
        ids = pa_arrow.chunked_array([values for values, _ in self.ids])
        counts = pc.value_counts(ids)
        # A missing id repeats nothing: "no missing values" names those rows.
        several = pc.and_(pc.greater(counts.field("counts"), 1), pc.is_valid(counts.field("values")))
        repeated = counts.field("values").filter(several)
        if not len(repeated):
            return None
        where = np.flatnonzero(pc.is_in(ids, value_set=repeated).to_numpy(zero_copy_only=False))
        # Each id with its repeats (ids in order of first appearance): where the copies sit.
        first_seen = pd.factorize(ids.take(where).to_numpy(zero_copy_only=False))[0]
        shown = where[np.lexsort((where, first_seen))][: self.limit]
        rows = np.concatenate([numbers for _, numbers in self.ids])[shown]
        values = ids.take(shown).to_pylist()
        return Problem(str(self.id_column), UNIQUE, len(where), values, [int(r) for r in rows])

    def _labels(self) -> pd.Series:
        """Every kept label, indexed by its 0-based row in the table."""
        labels = pa_arrow.chunked_array(self.labels).to_pandas()
        return labels.set_axis(np.concatenate(self.label_rows)) if self.label_rows else labels

    def problems(self) -> list[Problem]:
        """Every problem of the whole table, in the order a whole-table check reports them."""
        found = [self.label_missing] if self.label_missing else []
        empty = null_problems(self.nulls, self.labeled, self.params)
        # An empty column would also fail its per-value rules: reported once, as empty.
        gone = {p.column for p in empty}
        values = column_problems(self.schema, self.unparsed.problems(), self.missing, gone)
        # A value that did not parse, or is missing, fails pandera's type and null checks again: said
        # once. The column's other rules (range, levels) still name their own rows.
        repeated = {p.column for p in values}
        rules = dict(self.rules)
        duplicates = self._duplicates()
        if duplicates:
            rules[(self.id_column, UNIQUE)] = duplicates
        for key in sorted(rules, key=group_order):
            if str(key[0]) not in gone and not (str(key[0]) in repeated and str(key[1]).startswith(REPEATS)):
                rule = worded(key, rules[key], self.fixes)
                if key == (self.id_column, UNIQUE):
                    rule = replace(rule, check=rule.check + ID_FIX)
                if key[1] == "column_in_dataframe":  # which setting or schema entry needs them
                    roles = column_roles(rule.values, self.params.data)
                    unexpected: list[Any] = next(
                        (r.values for k, r in rules.items() if k[1] == "column_in_schema"), []
                    )
                    # The fix first: after a role per missing column (20 in a headerless file) it was
                    # the end of a line of some 1,500 characters.
                    rule = replace(rule, check=rule.check + look_alikes(rule.values, unexpected) + roles)
                values.append(rule)
        # A header's names are no cells: a "?" among them is no Parquet file's text.
        values = [p if p.column == "<table>" else self._written_missing(p) for p in values]
        values += self._row_count()
        found += empty + values
        if not found and self.labels:
            labels = label_problems(self._labels(), self.params, self.dropped)
            found = labels or self.copies.problems(self.labeled)  # a copy of labels that could train
        return self._id_clash() + found

    def _row_count(self) -> list[Problem]:
        """validate.min_rows over the labeled rows. Every label blank is the label's problem (the
        wrong column named, or an export without it): "add rows" would not fix it."""
        label = str(self.params.data.label)
        if self.dropped and not self.labeled:
            check = (
                f"not entirely empty (all {self.dropped} labels missing; a model learns from labeled "
                "rows: check that data.label (params.yaml) names the column to predict, or fill it)"
            )
            return [Problem(label, check, self.dropped, [None], list(range(min(self.dropped, self.limit))))]
        left_out = f", {self.dropped} more without a label in '{label}' (data.missing_label)"
        least = self.params.validate_.min_rows
        return too_few_rows(self.labeled, least, "validate.min_rows", left_out if self.dropped else "")

    def _id_clash(self) -> list[Problem]:
        """An id the batch scorer would refuse for every file: said before a model is trained."""
        task, classes = self.params.task, self.params.data.classes
        if classes is None and task == "multiclass" and self.labels:  # the model's: the label's values
            classes = sorted(self._labels().dropna().astype(str).unique())
        clash = id_clash(self.id_column, task, classes or [])
        if not clash:
            return []
        return [Problem(str(self.id_column), f"not a name the scorer writes ({clash})", self.labeled)]

    def _written_missing(self, found: Problem) -> Problem:
        """A failing value spelt like one of data.missing_values: a Parquet file's (``written_missing``)."""
        hint = written_missing(found.values, self.missing_text)
        return replace(found, check=found.check + hint) if hint else found

    def summary(self) -> dict[str, Any]:
        missing = self.missing_values if self.missing_values is not None else pd.Series(dtype=int)
        hashes = np.concatenate(self.row_hashes) if self.row_hashes else np.empty(0, np.uint64)
        return {
            "status": "passed",
            "task": self.params.task,
            "rows": self.labeled,
            "columns": self.columns,
            "dropped_missing_label": self.dropped,
            **label_summary(self._labels(), self.params.task, self.limit),
            "missing_values": {c: int(n) for c, n in missing.items() if n},
            # Worth a look, not a failure: copies can sit in train and test; a constant teaches nothing.
            "duplicate_rows": len(hashes) - len(np.unique(hashes)),
            "constant_features": [name for name, seen in self.values.items() if len(seen) < 2],
        }
