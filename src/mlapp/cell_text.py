"""A class label's or a level's text, one rule everywhere, without pandas: params.yaml's checks
(``data.classes``, ``data.missing_values``), which every ``mlapp`` command imports (``--help``
too), use it, and pandas costs a command about half a CPU-second to import. A table's cells are
read by ``mlapp.cells``, with these rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A whole number written as a float ("1.0", "-2.00"): pandas writes an integer column that has
# a gap this way, as R and spreadsheets often do.
WHOLE_FLOAT = re.compile(r"([+-]?\d+)\.0*")
# A whole number written with its sign: LIBSVM-style tables label their classes "+1" and "-1".
SIGNED_WHOLE = re.compile(r"[+-]\d+")
BOOLEANS = {"true", "false"}


def nfc(text: str) -> str:
    """Text in Unicode's composed form (NFC): "é" typed as "e" + a combining accent (NFD, as
    macOS file names and some exports write it) is the same text as the one character "é", so
    category levels and class labels are compared in this one form everywhere."""
    return unicodedata.normalize("NFC", text)


def class_text(value: object) -> str:
    """A class label as text: ``1``, ``1.0``, ``"1.0"``, ``"+1"`` and ``" 1 "`` are ``"1"``; ``True``,
    ``"TRUE"`` and ``"True"`` are ``"true"`` (as a boolean column gives); other text is stripped
    and in NFC (``nfc``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = nfc(str(value).strip())
    whole = WHOLE_FLOAT.fullmatch(text)
    if whole:
        return str(int(whole.group(1)))
    if SIGNED_WHOLE.fullmatch(text):  # "+1" is class 1, as "1.0" is; unsigned "007" stays a code
        return str(int(text))
    return text.lower() if text.lower() in BOOLEANS else text


def missing_clash(setting: str, values: Iterable[str], missing: Iterable[str]) -> str | None:
    """What is wrong when a class or category is spelt like a missing value (it would be read
    as missing, never as itself); None when none is."""
    clash = [value for value in values if value in set(missing)]
    if not clash:
        return None
    reads = "which data.missing_values reads as missing: remove it from one of them"
    return f"{setting} lists {clash[0]!r}, {reads}"
