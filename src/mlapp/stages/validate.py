"""Stage 1: parse and validate the raw table against the pandera schema.

On success writes the typed table (Parquet) and a summary report. On failure writes a
report naming column, check, failing values and rows, prints a summary and exits
non-zero, so DVC runs nothing downstream and the previous model stays untouched.

Beyond the per-value rules of the schema (``validate_rules``), the table as a whole is
checked: the share of missing values per column (``table_checks``), and whether the label
can train a model of the task (``label_checks``). Rows without a label are dropped (and counted in the report)
or fail, per ``data.missing_label``.

The file is read in chunks of ``validate.chunk_rows`` rows and the typed rows are written as
they pass, so memory holds one chunk as text, not the table (``findings`` merges the chunks'
checks into the whole table's). The output replaces the previous one only when all passed.
"""
# ``Problem``, ``parse_table`` and ``check_table`` are re-exported: the monitor checks batches with them.

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from mlapp import schema
from mlapp.csv_names import blank, csv_header, first_line_data, repeated, separator_fix
from mlapp.errors import UserError
from mlapp.files import write_json
from mlapp.labels import whole_numbers
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.raw_table import line_count, read_raw_chunks
from mlapp.sources import TABLE_FORMATS, is_parquet, table_format, unnamed_format
from mlapp.stages.findings import Findings
from mlapp.stages.validate_rules import check_table, parse_table
from mlapp.tables import FrameParts, parquet_table
from mlapp.unreadable import UNREADABLE, why_unreadable

__all__ = ["Problem", "ValidationFailed", "check_table", "parse_table", "run", "validate_table"]


class ValidationFailed(Exception):
    def __init__(self, problems: list[Problem], rows: int) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems
        self.rows = rows


def validate_table(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, int]:
    """The typed, validated table and the rows dropped for a missing label, or ``ValidationFailed``."""
    findings = Findings(params)
    validated = findings.add(frame)
    problems = findings.problems()
    if problems:
        raise ValidationFailed(problems, findings.rows)
    return validated, findings.dropped


def integral_labels(source: Path, params: Params) -> bool | None:
    """Whether every label is a whole number, for a Parquet table with numeric labels (read in
    chunks, each chunk alone cannot tell); None for text (CSV) labels."""
    if not is_parquet(source) or params.task == "regression":
        return None
    if params.data.label not in pq.read_schema(source).names:
        return None
    labels = parquet_table(source, columns=[params.data.label]).column(0).to_pandas()
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return None
    return whole_numbers(labels)


def header_problems(source: Path, sep: str) -> list[Problem]:
    """A header naming a column twice (pandas would silently rename the second ``x`` to
    ``x.1``, a column the file does not have) or leaving one blank (``Unnamed: 0``), or a CSV
    header that is one column holding another separator than ``sep`` (``data.csv_separator``)."""
    parquet = is_parquet(source)
    header = pq.read_schema(source).names if parquet else csv_header(source, sep)
    if twice := repeated(header):
        where = "the file's schema" if parquet else "the header"
        data_row = "" if parquet else first_line_data(header)  # a Parquet file's names are its schema
        said = f"unique column names ({where} repeats them){data_row}"
        return [Problem("<table>", said, len(twice), twice)]
    if unnamed := blank(header):
        return [Problem("<table>", f"a name for every column ({unnamed})", 1)]
    # A .tsv is read with tabs whatever data.csv_separator says: the fix is its name.
    check = separator_fix(header, sep, tsv=table_format(source, TABLE_FORMATS) == "tsv")
    if not check:
        return []
    return [Problem("<file>", check, 1, header)]


def name_problem(source: Path) -> Problem | None:
    """A name no reader reads (``.xlsx``, ``.json``, ``.csv.zip``): refused unread, not parsed as a CSV."""
    unnamed = unnamed_format(source)
    return Problem("<file>", f"readable table ({unnamed})", 1) if unnamed else None


def read_problem(exc: Exception, source: Path) -> Problem:
    """The file-level problem behind an ``UNREADABLE`` error reading ``source``: the rule
    every such problem breaks, worded after it as the batch scorer and the monitor word it."""
    return Problem("<file>", f"readable table ({why_unreadable(exc, source)})", 1)


def run(params: Params, *, source: Path, output: Path | None, report: Path | None) -> int:
    """Validate ``source``; ``output``, ``report`` None: not written (a one-off check of another
    table than data.raw, which must not replace the pipeline's), its result printed only."""
    if not schema.FEATURES:  # read now: a table of only the label, id and time drafts none
        raise UserError(
            "FEATURES (src/mlapp/schema.py) names no column: a model learns from at least one "
            "(`mlapp template schema` drafts them from your table)"
        )
    if named := name_problem(source):  # data.raw is checked by params: a path given with --input
        return _fail(report, source, [named], None)
    try:
        sep = params.data.separator(source)
        unreadable = header_problems(source, sep)
        if unreadable:
            return _fail(report, source, unreadable, None)
        findings = Findings(params, integral_labels(source, params))
        with FrameParts(output) if output else contextlib.nullcontext() as parts:
            chunks = read_raw_chunks(source, params.validate_.chunk_rows, params.data.missing_values, sep)
            for chunk in chunks:
                typed = findings.add(chunk)
                if parts and not findings.failing():  # a failed table is not written: no need to keep going
                    parts.write(typed)
            problems = findings.problems()
            if problems:
                raise ValidationFailed(problems, findings.rows)
            if parts:
                parts.commit()
    except FileNotFoundError:  # no data yet, not a verdict on it: the previous report stays
        fetch = ": pull the data first (`uv run dvc pull data.dvc`; `make run` does)"
        raise UserError(f"{source} not found{fetch if source == params.data.raw else ''}") from None
    except UNREADABLE as exc:
        return _fail(report, source, [read_problem(exc, source)], None)
    except ValidationFailed as exc:
        return _fail(report, source, exc.problems, exc.rows)
    result = findings.summary()
    if report:
        write_json(result, report)
    dropped, repeated, constant = findings.dropped, result["duplicate_rows"], result["constant_features"]
    # Without an id or time, copies are identical rows: the hash split keys a row by its content.
    data = params.data
    together = params.split.method == "hash" and not (data.id_column or data.time_column or data.group_column)
    where = "the hash split keeps them in one part" if together else "copies can be in train and test"
    notes = {
        f"{dropped} row(s) without a label dropped (data.missing_label)": dropped,
        f"{repeated} row(s) repeat another's features and label ({where})": repeated,
        f"constant features, nothing to learn: {constant}": constant,
        (far := _far_note(result, params.train.regression_objective)): far,
        "nothing written (a one-off check: --output, --report name where)": not (output or report),
    }
    note = "".join(f"; {text}" for text, shown in notes.items() if shown)
    print(f"validation passed: {result['rows']} rows, {result['columns']} columns ({source}){note}")
    return 0


def _far_note(result: dict[str, Any], objective: str) -> str:
    """What validate says of regression labels far outside the rest (``label_checks.far_labels``):
    with no label below 0 they may be a long right tail (prices; counts such as visits, mostly 0),
    which a log-link loss fits: tweedie takes a 0, gamma needs every label above it."""
    far, low = result.get("label_outliers"), result.get("label_min")
    if not far or not far["count"]:
        return ""
    pairs = ", ".join(f"row {row}: {value:g}" for row, value in zip(far["rows"], far["values"], strict=True))
    fix = "typos? fix them in the file"
    if objective == "squarederror":
        fix += "; if real, train.regression_objective: pseudohubererror (squared error chases them)"
        if low is not None and low > 0:
            fix += "; a positive, skewed label (prices, claims): tweedie or gamma"
        elif low == 0:
            fix += (
                "; a skewed label of counts or amounts, none below 0 (visits, claims): tweedie "
                "(gamma needs every label above 0)"
            )
    return f"{far['count']} label value(s) {far['rule']}, e.g. {pairs} ({fix})"


def _fail(report: Path | None, source: Path, problems: list[Problem], rows: int | None) -> int:
    """Report and print ``problems``; ``rows`` is None when the file stopped before its rows
    were read (its header, its encoding): no count rather than a wrong "0 rows"."""
    if report:
        listed = [p.__dict__ for p in problems]
        write_json({"status": "failed", "source": str(source), "rows": rows, "problems": listed}, report)
    counted = "" if rows is None else f" ({rows} rows)"
    print(f"validation FAILED for {source}{counted}: {len(problems)} problem(s)", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem.line()}", file=sys.stderr)
    where = f"full report: {report}; " if report else ""
    print(f"{where}rows are 0-based data rows{_lines(source, rows)}", file=sys.stderr)
    return 1


def _lines(source: Path, rows: int | None) -> str:
    """Where a row is in the file: its line, when a header and a line a row say so; a Parquet
    file's row by position (``tables.as_frame``), not by a pandas index it stores."""
    if rows is None:
        return ""
    if (lines := line_count(source)) is None:
        return " (positions in the file: pd.read_parquet(path).iloc[row], not a stored index)"
    if lines == rows + 1:
        return " (CSV line = row + 2)"
    return " (not line numbers: this file has blank lines or quoted values spanning lines)"
