"""How an export writes a number other than plainly, and what to change: validate's hints, the batch
scorer's per row and the schema draft's note (``mlapp.cells``). Each pattern is matched whole, on a
cell's stripped text. And the decimal a Parquet float32 is shown as (``float32_shown``)."""

from __future__ import annotations

import numpy as np

THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234 or 12,345.6
DECIMAL_COMMA = r"[+-]?\d+,\d+"  # 3,5: a European spreadsheet's export
THOUSANDS_POINT = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"  # 1.234 or 12.345,6: data.decimal ',' exports
DECIMAL_POINT = r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?"  # 3.5 in a table written with decimal commas
SPACED = r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?"  # 1 234,5: a French export's thousands
GROUPED = " (thousands separators: export numbers without them)"
COMMA_HINT = " (decimal commas: set data.decimal: ',' in params.yaml, or export numbers with a decimal point)"
POINT_HINT = " (a decimal point, but data.decimal is ',': export decimal commas, or set data.decimal: '.')"
# Per data.decimal: a number written by the other habit, and what to change (the export or the setting).
NUMBER_HABITS = {
    ".": ((THOUSANDS, GROUPED), (DECIMAL_COMMA, COMMA_HINT)),
    ",": ((THOUSANDS_POINT, GROUPED), (DECIMAL_POINT, POINT_HINT)),
}
# Other ways an export writes a number that no parser should guess at (12% is 12 or 0.12; "1.200,50 EUR"
# is 1200.5 in one currency of several): named with the change to make in the export, whatever
# data.decimal says. Without them a column of such values was told to become a category.
AMOUNT = r"\d[\d.,\s]*"
MONEY = r"(?:[$€£¥₹]|USD|EUR|GBP|JPY|CHF|CAD|AUD|CNY|INR|SEK|NOK|DKK|PLN|CZK|BRL|MXN)"  # not "ABC123"
EXPORT_HABITS = (
    (SPACED, GROUPED),
    (r"[+-]?\d[\d.,]*\s*%", " (a percent sign: export the number alone, 12% as 12 or as 0.12)"),
    (r"\([^()]*\d[^()]*\)", " (an accountant's negative, (12) for -12: export negatives with a minus sign)"),
    (
        rf"[+-]?{MONEY}\s*[+-]?{AMOUNT}|[+-]?{AMOUNT}\s*{MONEY}",
        " (a currency sign or code: export amounts as plain numbers, one currency per column)",
    ),
    (r"[+-]?0[xX][0-9a-fA-F]+", " (hexadecimal: export decimal numbers, or declare a code _category([...]))"),
)


def habits(decimal: str) -> tuple[tuple[str, str], ...]:
    """Every habit a number column can show under ``data.decimal``, with its hint: the separators first."""
    return (*NUMBER_HABITS[decimal], *EXPORT_HABITS)


# A yes/no where the schema says number: a Parquet boolean (pandas' 1/0), JSON's true, a CSV's "TRUE".
# The service refuses it as a number feature's value; so does every table reader (``cells.parse_values``).
TRUE_FALSE = r"(?i:true|false)"
TRUE_FALSE_HINT = (
    " (true/false: a yes/no, not a number; export it as 1 and 0, or declare the column a yes/no, "
    "pa.Column(bool), in FEATURES)"
)
# "inf", "-Infinity", a float's infinity in Parquet (a division by zero upstream): a number to pandas,
# none to the model (XGBoost stops on it).
INFINITY = r"[+-]?inf(?:inity)?"
INFINITE = " (infinite: the model takes finite numbers; export the value, or leave it empty (missing))"


def float32_shown(values: np.ndarray) -> np.ndarray:
    """float32 numbers as float64 holding the decimal a writer shows for them, 0.3 rather than the
    widened 0.30000001192092896 (against which a range declared up to 0.3 refused it): the 6- or
    7-digit decimal that is the same float32 (the model's value, bit for bit), else the widened
    number (8 or 9 digits: no decimal a person wrote). As ``str`` gives it, about 10x faster."""
    widened = values.astype(np.float64)
    shown = widened.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # 0, inf, NaN: kept as widened
        exponent = np.floor(np.log10(np.abs(widened)))
        for digits in (7, 6):  # 6 last: where both are the float32, the shorter
            power = digits - 1 - exponent
            scale = 10.0 ** np.abs(power)  # exact up to 1e22: the quotient or product is the decimal's double
            rounded = np.where(power >= 0, np.rint(widened * scale) / scale, np.rint(widened / scale) * scale)
            shown = np.where(rounded.astype(np.float32) == values, rounded, shown)
    return shown
