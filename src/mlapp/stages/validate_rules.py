"""Per-value rules of the validate stage: strict parsing before pandera, and its failures as problems.

Pandas' and pandera's own casts are lossy (3.5 -> 3, "maybe" -> True, a null bool ->
False), so every column is parsed explicitly first; pandera then checks the typed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pandas as pd
import pandera.pandas as pa

from mlapp.cells import NULLABLE_FIX, feature_fix, parse_hint, parse_values
from mlapp.csv_names import unnamed_hint
from mlapp.outputs import float_id_rule
from mlapp.problem_row import Problem
from mlapp.problems import CHECK_WORDS, MAX_LISTED, REPEATS, examples, problem, rule_words
from mlapp.schema import AS_WRITTEN, FEATURES

TABLE_CHECKS = {"column_in_dataframe", "column_in_schema"}
# A number or boolean column none of whose values parse: an export that now writes levels ("few",
# "many") for a count. What to change is the schema, not the data.
LEVELS_HINT = (
    " (no value of this column is one: if it now holds categories, declare it _category([...]) in "
    "FEATURES, src/mlapp/schema.py; `uv run mlapp template schema` prints a draft with its levels)"
)
# Per column, the placeholder hint's fix when it is not a feature's (NULLABLE_FIX): the label's;
# or a column's own hint for values no export habit explains.
Fixes = Mapping[str, str]
NO_HINTS: Fixes = MappingProxyType({})


def placeholder_fixes(schema: pa.DataFrameSchema, label: str, label_fix: str) -> dict[str, str]:
    """``Fixes`` for a table: the label's, and none beyond data.missing_values for a column FEATURES
    already declares nullable (airquality's "." for a missing Solar.R was told to make the
    nullable column nullable)."""
    return {
        **{name: feature_fix(column.nullable) for name, column in schema.columns.items()},
        label: label_fix,
    }


def parse_columns(
    frame: pd.DataFrame,
    schema: pa.DataFrameSchema,
    limit: int,
    decimal: str,
    fixes: Fixes = NO_HINTS,
    unexplained: Fixes = NO_HINTS,
) -> tuple[pd.DataFrame, dict[str, Problem], dict[str, Problem]]:
    """The parsed table (numbers written with ``decimal``, ``data.decimal``), per column the values
    that did not parse, and the missing values of columns that allow none (checked here, not by
    pandera: its coercion turns a null bool into False). ``fixes``: hints' fixes by column;
    ``unexplained``: a column's hint when no export habit explains its values."""
    parsed = frame.copy()
    unexplained = {**id_hints(schema), **unexplained}  # an id fails only stored as floats: no habit says why
    unparsed, missing = {}, {}
    for name, column in schema.columns.items():
        if name not in frame.columns:
            continue  # reported by the schema as a missing column
        if column.dtype is None:  # data.ignore_columns: read past, never checked (a batch keeps them)
            continue
        absent = frame[name].isna()
        if (column.metadata or {}).get(AS_WRITTEN):  # an id: its text as is (pandera types it)
            # Parquet's float64 (pandas' int column with a gap): 7.0, no id as the team wrote it
            bad = ~absent if pd.api.types.is_float_dtype(frame[name]) else pd.Series(False, index=frame.index)
            parsed[name] = frame[name].where(~bad)
        else:
            parsed[name], bad = parse_values(frame[name], str(column.dtype), decimal)
        if bad.any():
            fix = fixes.get(name, NULLABLE_FIX)
            hint = parse_hint(name, frame.loc[bad, name], str(column.dtype), decimal, fix)
            hint = hint or unexplained.get(name, "")
            # A feature whose every value is text, not one stray value (a chunk of one row): its type changed.
            # Asked after the hint: a Parquet list, which has one, cannot be counted (unhashable).
            if not hint and name in FEATURES and bad.sum() == absent.size - absent.sum():
                hint = LEVELS_HINT if frame.loc[bad, name].nunique() > 1 else ""
            rule = f"parse as {column.dtype}" + hint
            unparsed[name] = problem(frame.loc[bad, name], rule, limit)
        if absent.any() and not column.nullable:
            missing[name] = problem(frame.loc[absent, name], CHECK_WORDS["not_nullable"], limit)
    return parsed, unparsed, missing


def id_hints(schema: pa.DataFrameSchema) -> dict[str, str]:
    """Each id column's parse hint: read as written, an id fails only when stored as floats."""
    ids = [name for name, column in schema.columns.items() if (column.metadata or {}).get(AS_WRITTEN)]
    return {name: f" ({float_id_rule(str(name))})" for name in ids}


def column_problems(
    schema: pa.DataFrameSchema, unparsed: dict[str, Problem], missing: dict[str, Problem], skip: set[str]
) -> list[Problem]:
    """One problem per column (schema order): its unparsable values, else its missing ones."""
    return [
        unparsed.get(name) or missing[name]
        for name in schema.columns
        if name not in skip and (name in unparsed or name in missing)
    ]


def parse_table(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, limit: int, decimal: str, fixes: Fixes = NO_HINTS
) -> tuple[pd.DataFrame, list[Problem]]:
    """The parsed table and one problem per column: its unparsable values, else its missing ones."""
    parsed, unparsed, missing = parse_columns(frame, schema, limit, decimal, fixes)
    return parsed, column_problems(schema, unparsed, missing, set())


def too_few_rows(rows: int, least: int, setting: str, left_out: str = "") -> list[Problem]:
    """The table-wide row count check (``setting``: the params key of ``least``); ``left_out``
    says which rows were not counted (blank labels), as the fix may be to fill them."""
    if rows >= least:
        return []
    fix = f"add rows, or lower {setting} in params.yaml if these are all there are"
    return [Problem("<table>", f"at least {least} rows (found {rows}{left_out}; {setting}: {fix})", 1)]


def whole_number_columns(schema: pa.DataFrameSchema) -> frozenset[str]:
    """The schema's whole-number columns (int64, Int64), whose failing values ``rule_groups`` shows
    as the file writes them."""
    return frozenset(name for name, col in schema.columns.items() if str(col.dtype).lower().startswith("int"))


def _as_written(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def rule_groups(
    cases: pd.DataFrame, limit: int, whole: frozenset[str] = frozenset()
) -> dict[tuple[Any, Any], Problem]:
    """pandera's failure cases per (column, check) as it names them, in sorted order. ``whole``:
    whole-number columns; one that also holds a value that did not parse, or a missing one, stays
    float64 (NaN), and its out-of-range 200 would be shown as 200.0."""
    groups: dict[tuple[Any, Any], Problem] = {}
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        key = (column, check)
        rows = group["index"].dropna()
        values = group["failure_case"].map(_as_written) if column in whole else group["failure_case"]
        # A missing or extra column: the failing "values" are column names, list them all.
        shown = len(values) if key[1] in TABLE_CHECKS else limit
        groups[key] = Problem(
            str(key[0]), str(key[1]), len(group), examples(values, shown), [int(i) for i in rows.head(limit)]
        )
    return groups


def worded(key: tuple[Any, Any], found: Problem, fixes: Fixes = NO_HINTS) -> Problem:
    """A pandera failure said the way a data owner would say it."""
    column = "<table>" if key[1] in TABLE_CHECKS else found.column
    check, values = rule_words(found.check, found.values, fixes.get(found.column, NULLABLE_FIX)), found.values
    if found.check == "column_in_schema":
        check += unnamed_hint(found.values)
        # An export's 200 extra columns: the first few named, beside their count, as a long list
        # of levels is (``brief``), not one line of thousands of characters.
        values = values[:MAX_LISTED]
    return Problem(column, check, found.count, values, found.rows)


def schema_problems(
    exc: pa.errors.SchemaErrors,
    reported: set[str],
    limit: int,
    fixes: Fixes = NO_HINTS,
    whole: frozenset[str] = frozenset(),
) -> list[Problem]:
    """pandera's failures, but for a column in ``reported`` (values that did not parse or are
    missing) not the type and null checks those values fail again."""
    cases = exc.failure_cases
    repeat = cases["column"].isin(reported) & cases["check"].astype(str).str.startswith(REPEATS)
    groups = rule_groups(cases[~repeat], limit, whole)
    return [worded(key, found, fixes) for key, found in groups.items()]


def check_table(
    frame: pd.DataFrame,
    schema: pa.DataFrameSchema,
    limit: int,
    min_rows: int,
    min_rows_setting: str,
    decimal: str,  # data.decimal
    fixes: Fixes = NO_HINTS,  # the placeholder hint's fix by column, when not a feature's
) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse + validate; returns the typed table and every problem found (lazily, all at once)."""
    parsed, problems = parse_table(frame, schema, limit, decimal, fixes)
    validated = parsed
    try:
        validated = schema.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        reported = {p.column for p in problems}
        problems += schema_problems(exc, reported, limit, fixes, whole_number_columns(schema))
    return validated, problems + too_few_rows(len(frame), min_rows, min_rows_setting)
