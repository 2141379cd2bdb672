"""Whether a column of digits is a code (kept as text) or a quantity (a number), for the schema draft."""

from __future__ import annotations

import re

import pandas as pd

# "02134": a code (a zip code), not the number 2134; 20 digits: past int64, which validate refuses
# as a number. 16 to 19 digits: a card or account number when every value has that one width.
CODE = re.compile(r"[+-]?0\d|[+-]?\d{20,}$")
LONG = re.compile(r"[+-]?\d{16,}$")  # past float64's exact whole numbers (2**53, 16 digits)
CARD = re.compile(r"\d{13,19}$")  # a payment card number's widths (Amex 15, Visa 13, 16 and 19)


def is_code(text: pd.Series) -> bool:
    """Whether a column's values are a code to keep as text: a leading zero, 20 digits, 16 to 19
    digits in every value, all of one width (account numbers), or card numbers of several widths
    (Amex 15 and Visa 16 digits in one column), each passing the Luhn check. A quantity in an int64
    column (up to 9e18) has values of many widths, of which one in ten passes that check."""
    if text.empty:
        return False
    if bool(text.str.match(CODE).any()):
        return True
    if bool(text.str.match(LONG).all()) and text.str.len().nunique() == 1:
        return True
    return bool(text.str.match(CARD).all()) and all(map(_luhn, text.unique()))


def _luhn(digits: str) -> bool:
    """ISO/IEC 7812's check digit: every second digit from the right doubled (its digits summed)."""
    values = [int(c) for c in reversed(digits)]
    return (sum(values[0::2]) + sum(sum(divmod(2 * v, 10)) for v in values[1::2])) % 10 == 0
