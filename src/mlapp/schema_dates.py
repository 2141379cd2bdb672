"""Dates the schema draft names with their fix instead of drafting them as free text or a category.

validate reads ISO 8601 only (``cells.parse_values``, data.time_column too). A column whose every
value is a date written another way ("05/01/2024", "Jan 5 2024", "12/31/99") is named with the
format(s) it uses and what to write in the export: the order of day and month, and a 2-digit year's
century, are the export's to say, and a guess would be silently wrong.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd

DATE_FIX = "derive numbers from it in the file (its age in days)"
# A date not in ISO 8601: a 4-digit year and two more parts, numbers or a month's name
# ("05/01/2024", "Jan 5 2024", "05-Jan-2024"); pandas' own parser then says whether it is one.
_PART = r"(?:\d{1,2}|[A-Za-z]{3,9}\.?)(?:st|nd|rd|th)?"
DATE_LIKE = re.compile(rf"\d{{4}}[-/., ]+{_PART}[-/., ]+{_PART}|{_PART}[-/., ]+{_PART},?[-/., ]+\d{{4}}")
# The whole value a date with a 2-digit year ("12/31/99", "99-12-31", "31.12.99", "31-Dec-99"), whose
# century the export knows. Not "12/31" (a ratio), nor "1.2.3" or "1.2.10" (versions: dots padded only).
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
TWO_DIGIT_YEAR = re.compile(
    rf"\d{{1,2}}([-/])\d{{1,2}}\1\d\d|\d\d([-/])\d{{1,2}}\2\d{{1,2}}|\d\d\.\d\d\.\d\d"
    rf"|\d{{1,2}}[- ]{_MONTH}[- ]\d\d|{_MONTH} \d{{1,2}},? \d\d"
)
# A year alone, ISO 8601's coarsest date: read as its 1 January (``mlapp.cell_times``).
YEAR_ALONE = r"\d{4}"


def date_formats(text: pd.Series) -> list[str]:
    """One example of each way ``text`` writes its dates ("2024-01-05", "Jan 5 2024", "12/31/99")
    when every value is a date pandas can read some way, else []. Shapes: numbers and words replaced."""
    dated = text.str.contains(DATE_LIKE) | text.str.fullmatch(TWO_DIGIT_YEAR)
    if not dated.all():  # before parsing: a free-text column fails here, fast
        return []
    distinct = pd.Series(text.unique())
    # Year first too: "00-01-05" is a date only so (pandas reads "12/31/99" either way).
    read = [
        pd.to_datetime(distinct, format="mixed", errors="coerce", utc=True, yearfirst=first)
        for first in (False, True)
    ]
    if (read[0].isna() & read[1].isna()).any():
        return []
    # A year's 4 digits apart from other numbers: "2000-01-05" and "00-01-05" are two formats.
    shapes = distinct.str.replace(r"[A-Za-z]+", "a", regex=True).str.replace(r"\d{3,}", "#", regex=True)
    shapes = shapes.str.replace(r"\d+", "9", regex=True)
    return distinct.groupby(shapes, sort=False).first().tolist()


def dates_note(formats: list[str]) -> str:
    """What to do with dates validate cannot read: it reads ISO 8601 only (data.time_column too), and
    "05/01/2024" is 5 January or 1 May, "99" 1999 or 2099: the export knows, a guess does not."""
    short = any(TWO_DIGIT_YEAR.fullmatch(shape) for shape in formats)
    if len(formats) > 1:
        kinds = f"in mixed formats ({', '.join(formats[:3])}){', some with a 2-digit year' if short else ''}"
    else:
        kinds = f"with a 2-digit year ({formats[0]})" if short else f"not in ISO 8601 ({formats[0]})"
    iso = "validate reads ISO 8601 (2024-01-05) only, data.time_column too: write the column so in the export"
    years = ", each year in 4 digits (its century is the export's to say, not a guess)" if short else ""
    return f"dates {kinds}: {iso}{years}, then {DATE_FIX}"


def iso_reading(value: str) -> str:
    """What ``value``, a date pandas reads in a form other than ISO 8601, is in ISO 8601: one date,
    or the two it may be when the order of day and month, or a 2-digit year's century, is the
    export's to say (a guess would be silently wrong); "" when pandas reads no date in it."""
    with warnings.catch_warnings():  # pandas warns that it guessed a format: the guess is said here
        warnings.simplefilter("ignore")
        found = [pd.to_datetime(value, dayfirst=first, errors="coerce") for first in (False, True)]
    read = [stamp for stamp in found if isinstance(stamp, pd.Timestamp) and pd.notna(stamp)]
    if len(read) < 2:
        return ""
    iso = [_iso(stamp) for stamp in read]
    if TWO_DIGIT_YEAR.fullmatch(value.strip()):
        other = _iso(read[0] + pd.DateOffset(years=100 if read[0].year < 2000 else -100))
        return f"{iso[0]} or {other} (its century is the export's to say)"
    if iso[0] != iso[1]:
        return f"{iso[0]} or {iso[1]} (month or day first: the export knows which)"
    return iso[0]


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


def form_hint(text: pd.Series) -> tuple[pd.Series, str]:
    """The times of ``text`` written as dates in another form than ISO 8601 ("March 4, 2020",
    "04-Mar-2020", "4/3/2020"), and what the first is in ISO 8601 ("" when none is)."""
    dated = text.str.contains(DATE_LIKE) | text.str.fullmatch(TWO_DIGIT_YEAR)
    # ISO 8601 itself ("2024-01-05T10:00") fails for another reason (``mlapp.cell_times``' hints).
    dated &= pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True).isna()
    dated = dated.fillna(False).astype(bool)
    example, reading = next(((v, r) for v in text[dated] if (r := iso_reading(v))), ("", ""))
    if not reading:
        return dated & False, ""
    return dated, (
        f" (not ISO 8601, the one form validate reads, and no data.* setting reads another: {example!r} "
        f"in ISO 8601 is {reading}; write every value so in the export)"
    )


def years_note(text: pd.Series, present: pd.Series) -> str:
    """What to do with a column of years alone mixed with full ISO dates ("2019", "2020-03-04"), ""
    for any other: as a number the dates were drafted as marks of a missing value (silently lost
    once data.missing_values listed them), as a date the years as their 1 January. ``text``: the
    column's distinct values, stripped; ``present``: its values present, by row (for their rows)."""
    alone = text.str.fullmatch(YEAR_ALONE).fillna(False).astype(bool)
    dates = text[~alone]
    if not alone.any() or dates.empty:
        return ""
    if pd.to_datetime(dates, errors="coerce", format="ISO8601").isna().any():
        return ""
    by_row = present.astype(str).str.strip().str.fullmatch(YEAR_ALONE).fillna(False).astype(bool)
    fewer = by_row if by_row.sum() * 2 <= len(by_row) else ~by_row
    rows = ", ".join(map(str, present.index[fewer][:5])) + (", ..." if fewer.sum() > 5 else "")
    return (
        f"years alone ({text[alone].iloc[0]}) among full dates ({dates.iloc[0]}), the "
        f"{'years' if fewer is by_row else 'dates'} at rows {rows} (0-based, as validate counts): "
        f"write each row's full date in the export, then {DATE_FIX}, or the year alone in every row"
    )
