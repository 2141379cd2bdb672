"""Why a table file cannot be read, in words: validate (and the schema draft), the batch scorer
and the monitor say it alike, each after its own prefix.

pandas words an empty file (no bytes, blank lines only, an empty ``.gz``) "No columns to parse
from file", which names no file problem a user recognises, and a row with more fields than the
header "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3" plus a newline
(a blank line after the error). ``read_csv`` words the rows it can see itself (``MORE_FIELDS``)
and the rows pandas pads unsaid (``csv_fields.FEWER_FIELDS``); this words the rest the same way.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePosixPath

import pyarrow as pa
from pandas.errors import EmptyDataError, ParserError

from mlapp.sources import format_suffix, is_parquet, opened, unnamed_compression
from mlapp.tables import MORE_FIELDS

# Errors reading a file that are its content's: empty, ragged, not UTF-8, not Parquet, not
# compressed as named (``sources.opened`` raises ParserError for those).
UNREADABLE: tuple[type[Exception], ...] = (EmptyDataError, ParserError, UnicodeDecodeError, pa.ArrowInvalid)
EMPTY = "it is empty (no header line naming its columns)"
# pandas' C tokenizer: the header's field count, the file's 1-based line, that line's count.
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
# The bytes around a cell: a separator (data.csv_separator is never a letter, digit or space), a quote.
_CELL = re.compile(rb"[^,;\t|\"\r\n]+")
# Excel's "Unicode Text" (and Windows' "Unicode") is UTF-16, which starts with its byte order mark.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SHOWN = 40  # characters of the cell shown


def why_unreadable(exc: Exception, source: str | Path) -> str:
    """What is wrong with ``source`` that ``exc`` (raised reading it) says, in one line."""
    if isinstance(exc, UnicodeDecodeError):
        return not_utf8(source)
    if isinstance(exc, EmptyDataError):
        return EMPTY
    text = str(exc).strip()
    if found := _RAGGED.search(text):
        header, line, fields = found.groups()
        return (
            f"{MORE_FIELDS} (line {line}: {fields} fields, the header names {header}; "
            "name the extra column in the header, or quote a value holding the separator)"
        )
    return text


def not_utf8(source: str | Path) -> str:
    """What is said of a CSV that does not decode: the first line that is not UTF-8 and the
    fix, not the decoder's "byte 0xfc in position 1" (a position in the chunk being parsed, not
    in the file). The file's encoding is not guessed at: Windows-1252 (Excel's "CSV (Comma
    delimited)" on a Western Windows) and Windows-1250 give the same bytes other letters, and
    latin-1 reads 0x80-0x9f (the euro sign, dashes, curly quotes) as control characters: a guess
    puts wrong text in the data. The line's cell is shown as Windows-1252 reads it, for the user
    to recognise or not."""
    if packed := unnamed_compression(source):
        return compressed_unnamed(source, packed)
    found = first_non_utf8_line(source)
    if found is None:
        return "it is not UTF-8 text: save the file as UTF-8"
    number, line, start = found
    if number == 1 and line.startswith(UTF16_BOMS):
        return 'it is UTF-16 text (Excel\'s "Unicode Text"): save the file as UTF-8 (Excel: "CSV UTF-8")'
    said = f"line {number} is not UTF-8 text"
    cell = next(match.group() for match in _CELL.finditer(line) if match.start() <= start < match.end())
    try:
        # Spaces only: str.strip() also took a no-break space (0xa0), often the very byte at fault.
        shown = cell.decode("cp1252").strip(" ")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: not Windows-1252 either
        shown = ""
    # Control characters are text in no 8-bit encoding; a no-break space is (shown escaped).
    if not shown or any(unicodedata.category(char) == "Cc" for char in shown):
        return f"{said}: save the file as UTF-8"
    shown = shown if len(shown) <= SHOWN else shown[: SHOWN - 3] + "..."
    excel = "" if format_suffix(source) == ".jsonl" else ' (Excel: "CSV UTF-8", not "CSV (Comma delimited)")'
    return f"{said} ({shown!r} read as Windows-1252): save the file as UTF-8{excel}"


def compressed_unnamed(source: str | Path, packed: str) -> str:
    """What is said of a file compressed (``packed``: its suffix) under a name that does not say so."""
    return f"it is {packed}-compressed: name it so ({PurePosixPath(str(source)).name}{packed})"


def first_non_utf8_line(path: str | Path) -> tuple[int, bytes, int] | None:
    """The first line that is not UTF-8 text: its 1-based number, its bytes and the position of
    its first byte that is not; None for Parquet."""
    if is_parquet(path):  # lines are a CSV's: any table not Parquet is read as one (raw_table.read_raw)
        return None
    with opened(path) as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, line, exc.start
    return None
