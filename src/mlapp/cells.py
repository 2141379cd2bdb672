"""How a table's text is read: missing cells, class labels and typed values, one rule everywhere.

params.yaml (``data.classes``, ``data.missing_values``), the validated table, a monitored
batch and the service's answers all spell a class with ``class_text`` (``mlapp.cell_text``,
apart: params.yaml's checks need no pandas), so a label written ``1.0`` by a pandas or R export,
``1`` by hand or ``True`` by a spreadsheet is one class.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlapp.cell_times import parse_times, time_hints
from mlapp.spellings import INFINITE, INFINITY, TRUE_FALSE, TRUE_FALSE_HINT, float32_shown, habits

TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}
# "?", "-", ".": a cell without a letter or digit names no value; exports use such a placeholder for
# a missing one (UCI's adult table writes "?").
PLACEHOLDER = r"[^\w\s]+"
EXCEL_ERROR = r"#(?:DIV/0!|VALUE!|REF!|NAME\?|NUM!|NULL!|N/A|SPILL!|CALC!)"  # a formula that failed
# XGBoost reads every number as float32: a larger magnitude is inf to it (train stopped with its
# traceback), and pandas wrapped a whole number past int64 to -2**63 without a word. Neither parses.
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT64_LIMIT = 2.0**63
TOO_LARGE = {
    "float": f" (beyond {FLOAT32_MAX:.1e}, the largest number the model takes (XGBoost's float32): a "
    "placeholder such as 1e308? export it as empty)",
    "int": " (past int64, 9.2e18: a code or an identifier, not a quantity: declare it _category([...]) "
    "or list it in data.ignore_columns (params.yaml))",
}


DATE_HINT = (
    " (times, typed as such in the file: the model takes numbers; derive them in the file, e.g. an age in "
    "days, or list the column in data.ignore_columns (params.yaml))"
)
# The label's: data.ignore_columns leaves out a feature, never the label.
LABEL_DATE_HINT = (
    " (times, typed as such in the file: the label is a number; convert it to one in the export, e.g. "
    "days until the event, or choose another data.label (params.yaml))"
)


def typed_times(series: pd.Series) -> bool:
    """Whether a column holds times or durations as typed values (Parquet's timestamps): as a number
    such a value is a count of the writer's unit (ns, us or ms), so one date read from two files
    could differ 1000x. Parquet's date32 and time64 arrive as Python dates and times of day."""
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
        return True
    if not pd.api.types.is_object_dtype(series):
        return False
    first = next(iter(series.dropna()), None)  # a Parquet column holds one type; a CSV's is text
    return isinstance(first, datetime.date | datetime.time)


NESTED_HINT = (
    " (lists, records or bytes, typed so in the file: no model input nor class; write text or numbers "
    "(bytes decoded, lists flattened into columns), or list a feature in data.ignore_columns (params.yaml))"
)
NESTED = (list, tuple, dict, set, np.ndarray, bytes, bytearray)


def nested(series: pd.Series) -> pd.Series:
    """The cells holding a list, a record or bytes (Parquet's nested and binary types; text
    never does): no value of any column type, and unhashable where rows are compared."""
    # A CSV's column is all text: one scan in C says so, not a Python call per cell.
    if not pd.api.types.is_object_dtype(series) or pd.api.types.infer_dtype(series, skipna=True) == "string":
        return pd.Series(False, index=series.index)
    return series.map(lambda value: isinstance(value, NESTED)).astype(bool)


def true_false(series: pd.Series) -> pd.Series:
    """The cells holding a yes/no typed so (a Parquet boolean, JSON's true): 1 and 0 to pandas."""
    if pd.api.types.is_bool_dtype(series):
        return series.notna()
    if pd.api.types.infer_dtype(series, skipna=True) not in ("boolean", "mixed-integer", "mixed"):
        return pd.Series(False, index=series.index)  # numbers or text alone: no value scanned again
    return series.map(lambda value: isinstance(value, bool | np.bool_)).astype(bool)


def _texts(values: pd.Series, change: Callable[[Any], pd.Series]) -> pd.Series:
    """``change`` (of a ``.str`` accessor) applied to every text value; other values (a Parquet
    column's numbers, missing) as they are."""
    # An empty chunk as it is: changed, pandas' arrow-backed text holds no chunk, which pyarrow then
    # reads as a ChunkedArray that validate's id check cannot join with the other chunks' arrays.
    if values.empty or not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    try:
        text = change(values.str)  # NaN for a value that is not text
    except AttributeError:  # no text at all (Parquet's times of day, typed so): nothing to change
        return values
    return text.where(text.notna(), values)


def composed(values: pd.Series) -> pd.Series:
    """``nfc`` of every text value; other values (a Parquet column's numbers, missing) as they are."""
    return _texts(values, lambda text: text.normalize("NFC"))


def stripped(values: pd.Series) -> pd.Series:
    """Every text value without the spaces around it, as a table's text cell is read (a category's,
    an id's): a CSV written with ", " between fields holds " Private", and so does a Parquet file
    pandas wrote from one; a spreadsheet leaves "Private " (numbers, yes/no and labels were read
    so already). One level, "Private", in every file: the service's JSON is taken as sent."""
    return _texts(values, lambda text: text.strip())


# The placeholder hint's second step, per column: a feature's missing value needs FEATURES to allow
# it; the label's follows data.missing_label in validate and means "not known yet" in a monitored batch.
NULLABLE_FIX = " and make the column nullable in FEATURES"
LABEL_FIX = ": a row without a label is dropped or stops validate, as data.missing_label says"
BATCH_LABEL_FIX = ": a row without a label is one whose outcome is not known yet (left out of metric decay)"
LABEL_FIXES = (LABEL_FIX, BATCH_LABEL_FIX)


def feature_fix(nullable: bool) -> str:
    """A feature's placeholder fix, for validate and the batch scorer alike: a column FEATURES
    declares nullable needs data.missing_values only (airquality's "." for a missing Solar.R was
    told to make the nullable column nullable; the scorer told every column so)."""
    return "" if nullable else NULLABLE_FIX


def placeholder_hint(values: Iterable[object], levels: Iterable[object] = (), fix: str = NULLABLE_FIX) -> str:
    """The hint for a column whose failing values include a placeholder ("" if none does).
    ``levels``: a category's allowed values; when one of them has no letter or digit either
    (emoji, "+", "-"), such a value is a level of this column, not a placeholder. ``fix``: what
    else a missing value of this column needs (``NULLABLE_FIX``, ``LABEL_FIX``, ...)."""
    if any(re.fullmatch(PLACEHOLDER, str(level).strip()) for level in levels):
        return ""
    found = next((v for v in values if isinstance(v, str) and re.fullmatch(PLACEHOLDER, v.strip())), None)
    if found is None:
        return ""
    return (
        f" ({found.strip()!r} names no value: if it marks a missing one, add it to data.missing_values "
        f"(params.yaml){fix})"
    )


def _hints(name: str, values: pd.Series, dtype: str, decimal: str, fix: str) -> list[tuple[pd.Series, str]]:
    """Each hint a value that did not parse as ``dtype`` may get, with the values it explains,
    the most telling first: what to change is the export (or ``data.decimal``), not the schema.
    ``fix``: the placeholder hint's second step for this column (``placeholder_hint``)."""
    if nested(values).any():
        return [(nested(values), NESTED_HINT)]
    if dtype.lower().startswith("datetime"):
        return time_hints(values, decimal)
    if typed_times(values):
        return [(pd.Series(True, index=values.index), LABEL_DATE_HINT if fix in LABEL_FIXES else DATE_HINT)]
    text = values.astype("string").str.strip()
    placeholder = text.str.fullmatch(PLACEHOLDER)
    size = pd.to_numeric(decimal_points(text, decimal), errors="coerce").astype("float64").abs()
    whole = dtype.lower().startswith("int")
    infinite = text.str.fullmatch(INFINITY, case=False)
    large = (size.ge(INT64_LIMIT) if whole else size.gt(FLOAT32_MAX)) & ~infinite  # 1e309: inf to pandas
    # A label's yes/no is a class: validate says so.
    yes_no = text.str.fullmatch(TRUE_FALSE) & (fix not in LABEL_FIXES)
    return [
        (yes_no, TRUE_FALSE_HINT),
        (infinite, INFINITE),
        (large, TOO_LARGE["int" if whole else "float"]),
        (text.eq(name), f" (a row repeats the header {name!r}: files joined with their headers?)"),
        *((text.str.fullmatch(habit), hint) for habit, hint in habits(decimal)),
        (
            text.str.fullmatch(EXCEL_ERROR),
            " (a spreadsheet's error value: fix the formula, or export it as empty)",
        ),
        # The first placeholder names the hint: the mask found it, no second scan of every value.
        (placeholder, placeholder_hint(text[placeholder.fillna(False)].head(1), fix=fix)),
    ]


def parse_hint(name: str, values: pd.Series, dtype: str, decimal: str, fix: str = NULLABLE_FIX) -> str:
    """Why a column's values did not parse as ``dtype``, when a common export habit explains
    one of them ("" otherwise), as validate reports it: each habit the column's values show, the
    most telling first ("$1,200" and "12%" in one column: both to change in the export, not one
    per run), a value explained by its most telling one only (1,250: thousands, not a decimal comma);
    a time's one hint (its rule holds for every value)."""
    hints, claimed = [], pd.Series(False, index=values.index)
    for matched, hint in _hints(name, values, dtype, decimal, fix):
        if hint and (matched.fillna(False) & ~claimed).any():
            hints.append(hint)
        claimed |= matched.fillna(False)
    return hints[0] if hints and dtype.lower().startswith("datetime") else "".join(dict.fromkeys(hints))


def value_hints(name: str, values: pd.Series, dtype: str, decimal: str, fix: str) -> pd.Series:
    """``parse_hint`` of each value on its own ("" when none explains it): a hint per rejected
    row, which a value that is merely wrong ("lots") does not get from its neighbours. ``fix``:
    the feature's (``feature_fix``): the scorer checks no label."""
    hints = pd.Series("", index=values.index, dtype=object)
    found = _hints(name, values, dtype, decimal, fix)
    for matched, hint in reversed(found):  # the most telling is set last
        hints[matched.fillna(False).to_numpy(dtype=bool)] = hint
    return hints


def decimal_points(series: pd.Series, decimal: str) -> pd.Series:
    """Numbers written with ``decimal`` (``data.decimal``) as ``pd.to_numeric`` reads them: "3,5"
    is "3.5". With decimal commas a '.' is no decimal point (it groups thousands, 1.234, or comes
    from another export): such text becomes missing, a value that does not parse. Values that are
    numbers already (Parquet, JSON) are kept."""
    if decimal == "." or not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return series
    out = series.astype(object)
    text = series.str.len().notna()  # .str gives NaN for what is not text
    strings = series[text].astype(str)
    out[text] = strings.str.replace(decimal, ".", regex=False).where(~strings.str.contains(".", regex=False))
    return out


def parse_values(series: pd.Series, dtype: str, decimal: str) -> tuple[pd.Series, pd.Series]:
    """Strictly convert one column of text to ``dtype`` (the schema's), as training and batch
    scoring both do; returns (parsed, mask of values that did not parse). Pandas' and pandera's
    own casts are lossy (3.5 -> 3, "maybe" -> True), so they only see parsed values. Numbers are
    written with ``decimal`` (``data.decimal``) as their decimal mark; text is ``stripped``."""
    odd = nested(series)
    if odd.any():
        parsed, bad = parse_values(series.mask(odd), dtype, decimal)
        return parsed, bad | odd
    present = series.notna()
    dtype = dtype.lower()  # pandas' nullable Int64 parses as int64 does
    if dtype.startswith("int") or dtype.startswith("float"):
        if typed_times(series):  # a count of the writer's time unit (ns, us, ms): one date, 1000x apart
            return pd.Series(np.nan, index=series.index, dtype="float64"), present
        if (flags := true_false(series)).any():  # a yes/no, as the service refuses it: no 1 or 0
            parsed, bad = parse_values(series.astype(object).mask(flags), dtype, decimal)
            return parsed, bad | flags

        def read(values: pd.Series) -> pd.Series:
            return pd.to_numeric(decimal_points(values, decimal), errors="coerce").astype("float64")

        if series.dtype == np.float32:  # Parquet's float: 0.3, not 0.30000001 (float32_shown)
            numbers = pd.Series(float32_shown(series.to_numpy()), index=series.index)
        else:
            numbers = read(series)
        if (spaced := present & numbers.isna()).any() and not pd.api.types.is_numeric_dtype(series):
            # "12\xa0": a spreadsheet's non-breaking (or thin) space, which pandas keeps, is no part of it.
            numbers[spaced] = read(series[spaced].astype("string").str.strip())
        bad = present & (numbers.isna() | ~np.isfinite(numbers.fillna(0)) | numbers.abs().gt(FLOAT32_MAX))
        if dtype.startswith("int"):
            bad |= present & numbers.notna() & ((numbers % 1 != 0) | numbers.abs().ge(INT64_LIMIT))
        return numbers.astype("float64").where(~bad), bad
    if dtype in ("bool", "boolean"):  # boolean: pandas' nullable one
        if series.dtype == bool:
            return series, pd.Series(False, index=series.index)
        words = series.astype("string").str.strip().str.lower()
        parsed = words.map(lambda w: True if w in TRUE_WORDS else False if w in FALSE_WORDS else None)
        bad = present & parsed.isna()
        return parsed, bad
    if dtype.startswith("datetime"):
        return parse_times(series)
    return stripped(series), pd.Series(False, index=series.index)
