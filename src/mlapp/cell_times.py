"""How a time cell is read (the event-time column, any datetime column of the schema), and why one
did not parse: ISO 8601, with a UTC offset on every value or on none, as validate, the monitor and
the retrain refresh read it (``mlapp.cells.parse_values``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mlapp.schema_dates import YEAR_ALONE, form_hint

# An ISO 8601 time stamp's UTC offset: after its time ("T10:00", " 10"), so a date's day ("-03") is none.
OFFSET = r"[Tt ]\d[\d:.,]*(?:Z|[+-]\d\d(?::?\d\d)?)$"
ISO_RULE = "ISO 8601, with a UTC offset on every value or none"  # how parse_times reads a time
# A spreadsheet's date as a number is its days since 1899-12-30 (45292: 2024-01-01).
COUNT_HINT = (
    " (numbers, such as seconds since 1970, or a spreadsheet's days since 1899 (45292 for 2024-01-01), or "
    "durations: counts of a unit the file does not name; write the time itself, ISO 8601, in the export)"
)
# A year column with blanks, as pandas (statsmodels' tables too) writes it: 1935.0.
YEAR_HINT = " (years written as decimals: write them whole in the export, 1935 for 1935.0: ISO 8601)"
# Fractional years, as economics exports write a quarter or a mid-year (2024.25, 2024.5). pandas'
# ISO 8601 reader took "2024.5" as May 2024 and "2024.12" as December (a year and month) but
# "2024.25" as no date: refused, all of them (``DECIMAL``); which date is meant, the export knows.
FRACTION_HINT = (
    " (decimal years? 2024.5 is mid-2024 as a number, May 2024 as a year and month: write the date "
    "meant in the export, ISO 8601: 2024-07-02 or 2024-05)"
)
# A number written with a decimal point, which no ISO 8601 time is (2024.5, 1935.0, 20240105.0).
DECIMAL = r"[+-]?\d+\.\d*"
# A year and one more number, written otherwise than ISO 8601's year and month (2024-05): "2024 5"
# and "2024/05" read as May to pandas, but an export writes a quarter (statsmodels' year and quarter
# columns joined) or a week so as well: which unit the number counts, the export knows.
YEAR_AND_NUMBER = r"\d{4}(?:[-/ ]\d{1,2})"
ISO_MONTH = r"\d{4}-\d\d"
MONTH_HINT = (
    " (a year and one number: its month, quarter or week? write the month as ISO 8601 does, 2024-05, or "
    "the date itself, 2024-04-01 for the second quarter, in the export)"
)
# A year alone (``YEAR_ALONE``, read as its 1 January) among full dates would sort before every
# date of its year whatever its row's day, silently; refused, the years alone (the dates are exact).
YEARS_HINT = (
    " (years alone among full dates: a year alone reads as its 1 January, before every date of "
    "that year: write each row's full date in the export, ISO 8601, or the year alone in every row)"
)
FAR_HINT = (
    " (before 1678 or after 2261, past what a time stamp holds: a placeholder for no date, such as "
    "9999-12-31? give the row its time in the export)"
)


def has_offset(values: pd.Series) -> pd.Series:
    """Which of ``values`` (text, or typed values as their text) are times with a UTC offset
    (``OFFSET``): how validate, the parse-failure report and the retrain refresh tell the kinds apart."""
    return values.astype("string").str.strip().str.contains(OFFSET, na=False)


def parse_times(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """One column's times (parsed, mask of values that did not parse), by ``ISO_RULE``."""
    series = as_written(series)
    present = series.notna()
    text = series.astype("string").str.strip()
    # With a UTC offset on every value (local time across a daylight-saving change has two),
    # each is one instant: kept in UTC. Some with and some without is ambiguous: the fewer fail.
    offset = has_offset(text)
    fewer = present & (offset if offset.sum() * 2 < present.sum() else ~offset)
    stamps = pd.to_datetime(series.where(~fewer), errors="coerce", format="ISO8601", utc=bool(offset.any()))
    if offset.any():
        stamps = stamps.dt.tz_localize(None)  # UTC wall clock, as pandera stores a "Z" stamp
    # pandas reads 9999-12-31 (a database's "no date"), which datetime64[ns] cannot hold: pandera's
    # cast then failed naming neither the value nor its row.
    far = stamps.notna() & ((stamps < pd.Timestamp.min) | (stamps > pd.Timestamp.max))
    odd = far | text.str.fullmatch(DECIMAL).fillna(False).astype(bool) | _year_and_number(text)
    odd |= _years_among_dates(text, stamps.notna() & ~odd)
    return stamps.where(~odd), present & (stamps.isna() | odd)


def _years_among_dates(text: pd.Series, read: pd.Series) -> pd.Series:
    """Which of ``text`` are a year alone (``YEAR_ALONE``) in a column whose other times (``read``)
    say more: every year alone when one such time is there, else none."""
    alone = text.str.fullmatch(YEAR_ALONE).fillna(False).astype(bool)
    return alone & bool((read & ~alone).any())


def _year_and_number(text: pd.Series) -> pd.Series:
    """Which of ``text`` are a year and one number not in ISO 8601's form (``YEAR_AND_NUMBER``)."""
    loose = text.str.fullmatch(YEAR_AND_NUMBER) & ~text.str.fullmatch(ISO_MONTH)
    return loose.fillna(False).astype(bool)


def as_written(series: pd.Series) -> pd.Series:
    """``series`` with its numbers typed so (a Parquet column's, a JSON log's) as the text a CSV
    holds, read by one rule: 20240105 is a date (ISO 8601's basic form) and 2024 a year, as in a
    CSV, and 2024.5 no time (``DECIMAL``); pandas read a float as its year's 1 January (2024.25
    too), and says it will read numbers as counts since 1970."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.notna()
    elif pd.api.types.is_object_dtype(series):  # a JSON log's values, a Parquet column of dates
        numbers = series.map(lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool))
        numbers = numbers.astype(bool) & series.notna()
    else:  # text (a CSV's), times typed so (Parquet's timestamps): read as they are
        return series
    if not numbers.any():
        return series
    return series.astype(object).where(~numbers, series[numbers].astype(object).map(str))


def time_hints(values: pd.Series, decimal: str) -> list[tuple[pd.Series, str]]:
    """Each hint a time that did not parse may get, with the values it explains, the most telling
    first (``mlapp.cells.parse_hint`` says the first that explains one). ``decimal``
    (``data.decimal``): a decimal year written with it (2024,5) is the decimal year 2024.5 is."""
    text = values.astype("string").str.strip()
    year = pd.to_numeric(text.str.extract(r"^(\d{4,})-", expand=False))
    # 1710892800 (seconds since 1970? milliseconds?) or a Parquet duration: a count of some unit.
    counts = pd.to_numeric(text, errors="coerce").notna() | pd.api.types.is_timedelta64_dtype(values)
    point = f"[.{re.escape(decimal)}]"
    years = text.str.fullmatch(rf"[12]\d{{3}}{point}0+")  # YEAR_HINT's, before they read as counts
    fractions = text.str.fullmatch(rf"[12]\d{{3}}{point}\d+") & ~years
    found = [
        (year.lt(1678) | year.gt(2261), FAR_HINT),
        # A year a time stamp holds fails alone only beside full dates; 4500 is a count (COUNT_HINT).
        (
            text.str.fullmatch(YEAR_ALONE) & pd.to_numeric(text, errors="coerce").between(1678, 2261),
            YEARS_HINT,
        ),
        form_hint(text),
        (fractions, FRACTION_HINT),
        (_year_and_number(text), MONTH_HINT),
        (years, YEAR_HINT),
        (counts, COUNT_HINT),
    ]
    return [*found, *_mixed_offsets(values), (pd.Series(True, index=values.index), f" ({ISO_RULE})")]


def _mixed_offsets(values: pd.Series) -> list[tuple[pd.Series, str]]:
    """Times that are ISO 8601 on their own, refused for being the fewer kind of a column that
    mixes values with a UTC offset and without (``parse_times``): which kind, and the fix."""
    text = values.astype("string").str.strip()
    has = has_offset(text)
    # Each kind parsed alone (offsets as UTC): a time that reads so failed for the mix only.
    alone = pd.to_datetime(text.where(has), errors="coerce", format="ISO8601", utc=True).notna()
    alone |= pd.to_datetime(text.where(~has), errors="coerce", format="ISO8601").notna()
    kinds = ((has, "a UTC offset", "none"), (~has, "no UTC offset", "one"))
    return [
        (
            alone & kind,
            f" ({ISO_RULE}: these have {these}, the column's other values {others}; write every value "
            "with its offset, Z for UTC (2024-01-03T10:00:00Z), or none, in the export)",
        )
        for kind, these, others in kinds
    ]
