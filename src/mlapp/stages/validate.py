"""Stage 1: parse and validate the raw table against the pandera schema.

On success writes the typed table (Parquet) and a summary report. On failure writes a
report naming column, check, failing values and rows, prints a summary and exits
non-zero, so DVC runs nothing downstream and the previous model stays untouched.

Beyond the per-value rules of the schema, the table as a whole is checked (``table_checks``):
the share of missing values per column, and whether the label can train a model of the task.
Rows without a label are dropped (and counted in the report) or fail, per ``data.missing_label``.
"""
# ``Problem`` is re-exported: the monitor reports batch problems with it.

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.errors import EmptyDataError, ParserError

from mlapp.params import Params
from mlapp.schema import raw_schema
from mlapp.stages.table_checks import Problem, label_problems, label_summary, null_problems, prepare_label
from mlapp.tables import read_raw, write_frame, write_json

TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}
# pandera's internal check names, said the way a data owner would say them.
CHECK_WORDS = {
    "column_in_dataframe": "required column is present",
    "column_in_schema": "column is declared in the schema",
    "field_uniqueness": "values are unique",
    "not_nullable": "no missing values",
}
TABLE_CHECKS = {"column_in_dataframe", "column_in_schema"}


class ValidationFailed(Exception):
    def __init__(self, problems: list[Problem], rows: int) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems
        self.rows = rows


def _parse(series: pd.Series, dtype: str) -> tuple[pd.Series, pd.Series]:
    """Strictly convert one column; returns (parsed, mask of values that did not parse).

    Pandas' own casts are lossy here (3.5 -> 3, "maybe" -> True), so parse explicitly.
    """
    present = series.notna()
    if dtype.startswith("int") or dtype.startswith("float"):
        numbers = pd.to_numeric(series, errors="coerce")
        bad = present & (numbers.isna() | ~np.isfinite(numbers.fillna(0)))
        if dtype.startswith("int"):
            bad |= present & numbers.notna() & (numbers % 1 != 0)
        return numbers.astype("float64").where(~bad), bad
    if dtype == "bool":
        if series.dtype == bool:
            return series, pd.Series(False, index=series.index)
        words = series.astype("string").str.strip().str.lower()
        parsed = words.map(lambda w: True if w in TRUE_WORDS else False if w in FALSE_WORDS else None)
        bad = present & parsed.isna()
        return parsed, bad
    if dtype.startswith("datetime"):
        stamps = pd.to_datetime(series, errors="coerce", format="ISO8601")
        return stamps, present & stamps.isna()
    return series, pd.Series(False, index=series.index)


def _examples(values: pd.Series, limit: int) -> list[Any]:
    """JSON-safe sample of failing values (a missing value is shown as null)."""
    head = values.head(limit)
    return [None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in head.tolist()]


def parse_table(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, limit: int
) -> tuple[pd.DataFrame, list[Problem]]:
    parsed = frame.copy()
    problems = []
    for name, column in schema.columns.items():
        if name not in frame.columns:
            continue  # reported by the schema as a missing column
        parsed[name], bad = _parse(frame[name], str(column.dtype))
        missing = frame[name].isna()
        if bad.any():
            problems.append(_problem(frame.loc[bad, name], f"parse as {column.dtype}", limit))
        elif missing.any() and not column.nullable:
            # Checked here, not left to pandera: its coercion turns a null bool into False.
            problems.append(_problem(frame.loc[missing, name], CHECK_WORDS["not_nullable"], limit))
    return parsed, problems


def _problem(failing: pd.Series, check: str, limit: int) -> Problem:
    rows = [int(i) for i in failing.index[:limit]]
    return Problem(str(failing.name), check, len(failing), _examples(failing, limit), rows)


def schema_problems(exc: pa.errors.SchemaErrors, skip: set[str], limit: int) -> list[Problem]:
    cases = exc.failure_cases
    cases = cases[~cases["column"].isin(skip)]
    problems = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        rows = group["index"].dropna()
        values = group["failure_case"]
        if check in TABLE_CHECKS:  # the failing "values" are column names: list them all
            column, limit_here = "<table>", len(values)
        else:
            limit_here = limit
        problems.append(
            Problem(
                str(column),
                CHECK_WORDS.get(str(check), str(check)),
                len(group),
                _examples(values, limit_here),
                [int(i) for i in rows.head(limit)],
            )
        )
    return problems


def check_table(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, limit: int, min_rows: int, min_rows_setting: str
) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse + validate; returns the typed table and every problem found (lazily, all at once)."""
    parsed, problems = parse_table(frame, schema, limit)
    validated = parsed
    try:
        validated = schema.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        # Columns that did not parse would only repeat themselves as dtype/null failures.
        problems += schema_problems(exc, {p.column for p in problems}, limit)
    if len(frame) < min_rows:
        check = f"at least {min_rows} rows (found {len(frame)}; {min_rows_setting})"
        problems.append(Problem("<table>", check, 1))
    return validated, problems


def validate_table(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, int]:
    """The typed, validated table and the rows dropped for a missing label, or ``ValidationFailed``."""
    schema = raw_schema(params.data, params.task)
    limit = params.validate_.max_failure_examples
    labeled, dropped, problems = prepare_label(frame, params)
    empty = null_problems(labeled, list(schema.columns), params)
    # An empty column would also fail its per-value rules: report it once, as empty.
    keep = [c for c in labeled.columns if c not in {p.column for p in empty}]
    validated, value_problems = check_table(
        labeled[keep], schema.remove_columns([p.column for p in empty]), limit,
        params.validate_.min_rows, "validate.min_rows",
    )  # fmt: skip
    problems += empty + value_problems
    if not problems:
        problems = label_problems(validated[params.data.label], params)
    if problems:
        raise ValidationFailed(problems, len(frame))
    return validated, dropped


def summary(frame: pd.DataFrame, params: Params, dropped: int) -> dict[str, Any]:
    return {
        "status": "passed",
        "task": params.task,
        "rows": len(frame),
        "columns": len(frame.columns),
        "dropped_missing_label": dropped,
        **label_summary(frame[params.data.label], params.task),
        "missing_values": {c: int(n) for c, n in frame.isna().sum().items() if n},
    }


def run(params: Params, *, source: Path, output: Path, report: Path) -> int:
    try:
        frame = read_raw(source)
        validated, dropped = validate_table(frame, params)
    except FileNotFoundError:
        return _fail(report, source, [Problem("<file>", "exists", 1)], 0)
    except (EmptyDataError, ParserError) as exc:
        return _fail(report, source, [Problem("<file>", f"readable table ({exc})", 1)], 0)
    except ValidationFailed as exc:
        return _fail(report, source, exc.problems, exc.rows)
    write_frame(validated.reset_index(drop=True), output)
    result = summary(validated, params, dropped)
    write_json(result, report)
    note = f"; {dropped} row(s) without a label dropped (data.missing_label)" if dropped else ""
    print(f"validation passed: {result['rows']} rows, {result['columns']} columns ({source}){note}")
    return 0


def _fail(report: Path, source: Path, problems: list[Problem], rows: int) -> int:
    write_json(
        {"status": "failed", "source": str(source), "rows": rows, "problems": [p.__dict__ for p in problems]},
        report,
    )
    print(f"validation FAILED for {source} ({rows} rows): {len(problems)} problem(s)", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem.line()}", file=sys.stderr)
    print(f"full report: {report}; rows are 0-based data rows (CSV line = row + 2)", file=sys.stderr)
    return 1
