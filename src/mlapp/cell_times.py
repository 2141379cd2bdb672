"""How a time cell is read (the event-time column, any datetime column of the schema), and why one
did not parse: ISO 8601, with a UTC offset on every value or on none, as validate, the monitor and
the retrain refresh read it (``mlapp.cells.parse_values``).
"""

from __future__ import annotations

import pandas as pd

# An ISO 8601 time stamp's UTC offset: after its time ("T10:00", " 10"), so a date's day ("-03") is none.
OFFSET = r"[Tt ]\d[\d:.,]*(?:Z|[+-]\d\d(?::?\d\d)?)$"
ISO_RULE = "ISO 8601, with a UTC offset on every value or none"  # how parse_times reads a time
COUNT_HINT = (
    " (numbers, such as seconds since 1970, or durations: counts of a unit the file does not name; write "
    "the time itself, ISO 8601, in the export)"
)
# A year column with blanks, as pandas (statsmodels' tables too) writes it: 1935.0.
YEAR_HINT = " (years written as decimals: write them whole in the export, 1935 for 1935.0: ISO 8601)"
FAR_HINT = (
    " (before 1678 or after 2261, past what a time stamp holds: a placeholder for no date, such as "
    "9999-12-31? give the row its time in the export)"
)


def parse_times(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """One column's times (parsed, mask of values that did not parse), by ``ISO_RULE``."""
    present = series.notna()
    # With a UTC offset on every value (local time across a daylight-saving change has two),
    # each is one instant: kept in UTC. Some with and some without is ambiguous: the fewer fail.
    offset = series.astype("string").str.strip().str.contains(OFFSET, na=False)
    fewer = present & (offset if offset.sum() * 2 < present.sum() else ~offset)
    stamps = pd.to_datetime(series.where(~fewer), errors="coerce", format="ISO8601", utc=bool(offset.any()))
    if offset.any():
        stamps = stamps.dt.tz_localize(None)  # UTC wall clock, as pandera stores a "Z" stamp
    # pandas reads 9999-12-31 (a database's "no date"), which datetime64[ns] cannot hold: pandera's
    # cast then failed naming neither the value nor its row.
    far = stamps.notna() & ((stamps < pd.Timestamp.min) | (stamps > pd.Timestamp.max))
    return stamps.where(~far), present & (stamps.isna() | far)


def time_hints(values: pd.Series) -> list[tuple[pd.Series, str]]:
    """Each hint a time that did not parse may get, with the values it explains, the most telling
    first (``mlapp.cells.parse_hint`` says the first that explains one)."""
    text = values.astype("string").str.strip()
    year = pd.to_numeric(text.str.extract(r"^(\d{4,})-", expand=False))
    # 1710892800 (seconds since 1970? milliseconds?) or a Parquet duration: a count of some unit.
    counts = pd.to_numeric(text, errors="coerce").notna() | pd.api.types.is_timedelta64_dtype(values)
    years = text.str.fullmatch(r"[12]\d{3}\.0+")  # YEAR_HINT's, before they read as counts
    found = [(year.lt(1678) | year.gt(2261), FAR_HINT), (years, YEAR_HINT), (counts, COUNT_HINT)]
    return [*found, *_mixed_offsets(values), (pd.Series(True, index=values.index), f" ({ISO_RULE})")]


def _mixed_offsets(values: pd.Series) -> list[tuple[pd.Series, str]]:
    """Times that are ISO 8601 on their own, refused for being the fewer kind of a column that
    mixes values with a UTC offset and without (``parse_times``): which kind, and the fix."""
    text = values.astype("string").str.strip()
    has = text.str.contains(OFFSET, na=False)
    # Each kind parsed alone (offsets as UTC): a time that reads so failed for the mix only.
    alone = pd.to_datetime(text.where(has), errors="coerce", format="ISO8601", utc=True).notna()
    alone |= pd.to_datetime(text.where(~has), errors="coerce", format="ISO8601").notna()
    kinds = {True: ("a UTC offset", "none"), False: ("no UTC offset", "one")}
    return [
        (
            alone & (has if offset else ~has),
            f" ({ISO_RULE}: these have {these}, the column's other values {others}; write every value "
            "with its offset, Z for UTC (2024-01-03T10:00:00Z), or none, in the export)",
        )
        for offset, (these, others) in kinds.items()
    ]
