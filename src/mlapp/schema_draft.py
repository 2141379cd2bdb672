"""A first ``FEATURES`` for schema.py, drafted from the user's table.

Each column is read as validate reads it (params ``data:``: separator, missing cells) and typed
by the strictest rule every present value passes, checked with the same parser validate uses:
a whole number, a number, a yes/no, else a category listing the values seen. Ranges are wider
than the values seen (``mlapp.schema_ranges``: twice the furthest, 0 on a side none reached).
Columns the model cannot take (free text, dates in any format, always missing, names XGBoost
refuses) or should not (an id, a row number) are comments saying what to do.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mlapp.cells import PLACEHOLDER, composed, nested, parse_values, typed_times
from mlapp.csv_names import first_line_data
from mlapp.errors import UserError
from mlapp.params import DataParams, ValidateParams
from mlapp.raw_table import read_raw
from mlapp.schema_codes import is_code
from mlapp.schema_dates import DATE_FIX, date_formats, dates_note, years_note
from mlapp.schema_ranges import bound, shown
from mlapp.sources import is_parquet
from mlapp.spellings import habits
from mlapp.stages.label_copies import copied_columns
from mlapp.stages.validate import header_problems, name_problem, read_problem
from mlapp.unreadable import UNREADABLE

YES_NO = {"true", "false", "yes", "no"}  # "0"/"1" stay numbers; "y"/"n" stay a category
IGNORE = "list it in data.ignore_columns (params.yaml)"
# "id", "customer_id", "user id", "CustomerID"; not "paid" nor "valid"
ID_NAME = re.compile(r"(?:^|[\W_])(?:id|Id|ID)$|[a-z](?:Id|ID)$")
MARKER_WORDS, MARKER_SHARE = 3, 0.1  # words among numbers drafted as missing: spellings, share of rows
ID_HINT = "if it identifies the row, set data.id_column (params.yaml) to it instead"
# An ISO date or time is what data.time_column reads: a ticket's opening date is its event time
# (split.method time, the monitor's batches), never a feature, and needs no derived column.
TIME_HINT = "if it is when the row's event happened, set data.time_column (params.yaml) to it"
# Whole numbers, each once, with no gap (1..500 in any order): a row number (pandas' "Unnamed: 0",
# "row_no", "idx") the model would learn the row order from. Fewer rows can be a real feature by
# chance (5 people aged 30..34).
ROW_NUMBER_ROWS = 50


@dataclass(frozen=True)
class Feature:
    name: str
    call: str  # the declaration up to its closing part: "_number(int, 0, 120", "_category("; "" if skipped
    levels: tuple[str, ...] = ()  # a category's values, kept apart to wrap a long list
    nullable: bool = False
    skip: str = ""  # why the column is no feature, and what to do
    placeholders: tuple[str, ...] = ()  # cells without a letter or digit ("?"), drafted as missing
    emptied: bool = False  # skipped for its missing values, which data.missing_values' words may be


def _free_text(levels: int, present: int) -> bool:
    # Mostly distinct values (names, comments, ids) are no category: a new row brings a new one.
    return levels > 50 and levels > present / 2


def _row_number(numbers: pd.Series, rows: int, nullable: bool) -> bool:
    """Whether a whole-number column (``numbers``: its distinct values; every row present) is
    0..n-1, 1..n or any n consecutive numbers, each once: in file order or shuffled, a row's
    position and nothing else."""
    return (
        not nullable
        and rows >= ROW_NUMBER_ROWS
        and numbers.nunique() == rows == numbers.max() - numbers.min() + 1
    )


def _row_number_note(low: str, high: str, declared: str) -> str:
    seen = f"whole numbers {low} to {high}, each once: a row number (the model would learn the row order)"
    return f"{seen}; {ID_HINT}, or {IGNORE}; a feature after all: {declared} in FEATURES"


def _markers(text: pd.Series, share: pd.Series, decimal: str) -> pd.Series:
    """Which of a column's values (distinct, stripped; ``share``: each one's share of the rows)
    mark a missing value instead of holding one: a placeholder without a letter or digit among
    other values ("?": UCI's tables), or a few words among numbers ("unknown" in 2% of rows). As
    values they hid the column's type: a number drafted as free text (left out) or a count as a
    category whose level "?" validate then accepted."""
    marks = text.str.fullmatch(PLACEHOLDER)
    if marks.any():
        return marks & (not marks.all())  # "+" and "-" alone are a category's levels
    # "12%", "$5.00" among numbers are numbers to export plainly (_written_numbers), never missing.
    words = parse_values(text, "float", decimal)[1]
    words[words] = ~_habits(text[words], decimal)[0]
    words[words] = parse_values(text[words], "datetime64[ns]", decimal)[1]  # dates among years: values
    few = text[words].nunique() <= MARKER_WORDS and share[words].sum() <= MARKER_SHARE
    code = is_code(text)  # a code column's words are its levels
    return words & (few and not code)


def _habits(text: pd.Series, decimal: str) -> tuple[pd.Series, str]:
    """Which values are numbers written by an export habit (12%, $1,200.50, (12), 1,234), and what to
    change for the first habit found ("" if none)."""
    found_by = [(text.str.fullmatch(habit), hint) for habit, hint in habits(decimal)]
    spelt = pd.concat([found for found, _ in found_by], axis=1).any(axis=1)
    found, hint = next(((found, hint) for found, hint in found_by if found.any()), (spelt, ""))
    return spelt, f"numbers written as {text[found].iloc[0]!r}{hint}" if hint else ""


def _written_numbers(text: pd.Series, decimal: str) -> str:
    """What to change in the export ("" if nothing) when every value is a number and some are written
    by an export habit: drafted as a category or free text, such a column was a number lost."""
    failing = text[parse_values(text, "float", decimal)[1]]
    if failing.empty:
        return ""
    spelt, fix = _habits(failing, decimal)
    return fix if spelt.all() else ""


def feature(name: str, values: pd.Series, decimal: str) -> Feature:
    """How one column becomes a model input, or why it cannot: the first rule that settles it, in
    order (the order matters: a Parquet boolean would pass as the number 0/1, a code as a number)."""
    present = values.dropna()
    nullable = len(present) < len(values)
    if skip := _unusable(name, present):
        return Feature(name, "", skip=skip, emptied=present.empty)
    # Every rule below holds for each value alike: checked on the distinct values (a category's
    # thousands, not its million rows), in the order they first appear; counts stay the rows'.
    codes, found = pd.factorize(present)
    distinct = pd.Series(found)
    text = distinct.astype(str).str.strip()
    marks = _markers(text, pd.Series(np.bincount(codes) / len(present)), decimal)
    if marks.any():
        # Drafted as validate reads the column once data.missing_values lists the marks; the CLI says so.
        drafted = feature(name, values.mask(values.isin(distinct[marks])), decimal)
        return replace(drafted, placeholders=tuple(sorted(set(text[marks]))))
    if set(text.str.lower()) <= YES_NO:  # before numbers: a Parquet boolean would pass as 0/1
        return Feature(name, 'pa.Column("boolean"' if nullable else "pa.Column(bool", nullable=nullable)
    if skip := _time_value(distinct) or _uninformative(name, len(present), text, nullable):
        return Feature(name, "", skip=skip)
    if years := years_note(text, present):
        return Feature(name, "", skip=f"{years}; or {IGNORE}")
    numbered = _number(name, distinct, text, len(values), nullable, decimal)
    return numbered or _text(name, distinct, text, len(present), nullable, decimal)


def _unusable(name: str, present: pd.Series) -> str:
    """Why a column can be no feature whatever its values say ("" if it can be one)."""
    if any(c in name for c in "[]<"):
        return "XGBoost refuses '[', ']' and '<' in a name: rename the column"
    if present.empty:
        return f"every value is missing; {IGNORE}"
    if nested(present).any():
        return f"lists, records or bytes: flatten them into columns in the file, or {IGNORE}"
    return ""


def _time_value(present: pd.Series) -> str:
    """Why a Parquet duration or time of day is no feature as stored ("" for any other column)."""
    if pd.api.types.is_timedelta64_dtype(present):
        return f"a duration: derive numbers from it in the file (its hours, days); {IGNORE}"
    if typed_times(present) and isinstance(present.iloc[0], datetime.time):  # Parquet's time64
        return (
            f"a time of day: derive numbers from it in the file (its hour, minutes since midnight); {IGNORE}"
        )
    return ""


def _uninformative(name: str, present: int, text: pd.Series, nullable: bool) -> str:
    """Why a column whose values would type fine teaches the model nothing ("" if it may);
    ``text``: its distinct values, stripped, of ``present`` rows with a value."""
    if ID_NAME.search(name) and len(text) == present > 1:
        # As a feature, a row's number teaches nothing, and the service refuses every later id
        # beyond the range seen.
        return f"named like an id, every value distinct; {ID_HINT}, or {IGNORE}"
    if not nullable and present > 1 and text.nunique() == 1:  # a blank is information too
        # Nothing to learn from, and its drafted range or level would refuse any other value
        # (an all-zero count drafted 0..0 refused the first 1).
        return f"the same value ({text.iloc[0]!r}) in every row; {IGNORE}"
    return ""


def _number(
    name: str, distinct: pd.Series, text: pd.Series, rows: int, nullable: bool, decimal: str
) -> Feature | None:
    """A whole number, else a number, when every value (``distinct``: each once) parses as one (a
    code such as a zip code stays a category); None when some do not."""
    if is_code(text):
        return None
    for kind in ("int", "float"):
        numbers, bad = parse_values(distinct, kind, decimal)  # data.decimal: "3,5" is a number
        if not bad.any():
            low, high = bound(numbers.min(), kind, False), bound(numbers.max(), kind, True)
            if kind == "int" and _row_number(numbers, rows, nullable):
                first, last = shown(numbers.min(), kind), shown(numbers.max(), kind)
                return Feature(name, "", skip=_row_number_note(first, last, f"_number(int, {low}, {high})"))
            return Feature(name, f"_number({kind}, {low}, {high}", nullable=nullable)
    return None


def _text(
    name: str, distinct: pd.Series, text: pd.Series, present: int, nullable: bool, decimal: str
) -> Feature:
    """A column of text (``distinct``: its values, each once, of ``present`` rows with one): a
    category of the values seen, unless they are numbers or dates as exported (to fix in the
    file) or free text."""
    if habit := _written_numbers(text, decimal):
        return Feature(name, "", skip=f"{habit}; or {IGNORE}")
    # Whether every value parses: a mix of times with and without a UTC offset fails either way.
    if not parse_values(distinct, "datetime64[ns]", decimal)[1].any():
        return Feature(name, "", skip=f"a date: {DATE_FIX}; {TIME_HINT}; or {IGNORE}")
    if formats := date_formats(text):
        return Feature(name, "", skip=f"{dates_note(formats)}; or {IGNORE}")
    levels = sorted(set(composed(text)))  # stripped and in NFC, as validate reads them: one level each
    if _free_text(len(levels), present):
        unique = f"; {ID_HINT}, or" if len(levels) == present else ";"
        seen = f"{len(levels):,} values in {present:,} rows"
        return Feature(name, "", skip=f"free text, {seen}{unique} {IGNORE}")
    return Feature(name, "_category(", tuple(levels), nullable)


def too_empty(name: str, values: pd.Series, checks: ValidateParams) -> Feature | None:
    """A column missing more values than validate allows (it would refuse the draft), else None."""
    by_column = name in checks.max_null_share_by_column
    allowed = checks.max_null_share_by_column[name] if by_column else checks.max_null_share
    share = float(values.isna().mean())
    if share <= allowed or share == 1:  # an empty column has its own note
        return None
    setting = f"validate.max_null_share{'_by_column.' + name if by_column else ''}"
    note = f"{share:.0%} missing, over {setting} ({allowed:g}); {IGNORE} or raise it"
    return Feature(name, "", skip=note, emptied=True)


def draft(
    frame: pd.DataFrame, data: DataParams, checks: ValidateParams, task: str | None = None
) -> list[Feature]:
    """Every column but the label, id, event time and ignored ones, in the file's order; with
    ``task``, a copy of the label is left out as validate would refuse it."""
    named = {*data.parts.values(), *data.ignore_columns}
    columns = [(str(name), frame[name]) for name in frame.columns if name not in named]
    copies = copied_columns(frame, [n for n, _ in columns], data.label, task) if task else set()
    copy = f"a copy of the label {data.label!r} (validate refuses it: a model learns the answer); {IGNORE}"
    return [
        Feature(n, "", skip=copy) if n in copies else too_empty(n, v, checks) or feature(n, v, data.decimal)
        for n, v in columns
    ]


def read(path: Path, data: DataParams, chunk_rows: int) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The table as validate reads it, and per column the cells read as missing only because
    data.missing_values lists a word ("NA": North America or Namibia in a country column), which
    a category draft would silently lose. One read: a CSV's text is masked here, as read_csv would."""
    if not path.is_file():
        raise UserError(f"{path}: no such file (data.raw in params.yaml, or pass the table's path)")
    csv = not is_parquet(path)
    sep = data.separator(path)
    frame = _readable(path, [] if csv else data.missing_values, chunk_rows, sep)
    if frame.empty:
        raise UserError(f"{path} has no data rows: the draft types each column by its values")
    if data.label not in frame.columns:
        raise UserError(
            f"{path} has no column {data.label!r} (data.label in params.yaml): set the label first"
            + first_line_data(list(frame.columns))
        )
    if not csv:
        return frame, {}
    words = [v for v in data.missing_values if any(c.isalnum() for c in v)]
    counts = {name: frame[name][frame[name].isin(words)].value_counts() for name in frame.columns}
    spelt = {str(name): {str(w): int(n) for w, n in c.items()} for name, c in counts.items() if len(c)}
    return frame.mask(frame.isin(data.missing_values)), spelt


def _readable(path: Path, missing: list[str], chunk_rows: int, sep: str) -> pd.DataFrame:
    """``read_raw``, or what validate refuses before typing a value, in its words: not a
    draft of "amount.1" (pandas' name for a repeated "amount") nor a traceback."""
    try:
        problems = [named] if (named := name_problem(path)) else header_problems(path, sep)
        if not problems:
            return read_raw(path, missing, chunk_rows, sep)
    except UNREADABLE as exc:
        problems = [read_problem(exc, path)]
    raise UserError(f"{path}: {problems[0].line()}")
