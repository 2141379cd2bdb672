"""Why a table file cannot be read, in words: validate (and the schema draft), the batch scorer
and the monitor say it alike, each after its own prefix.

pandas words an empty file (no bytes, blank lines only, an empty ``.gz``) "No columns to parse
from file", which names no file problem a user recognises, and a row with more fields than the
header "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3" plus a newline
(a blank line after the error). ``read_csv`` words the rows it can see itself (``MORE_FIELDS``);
this words the rest the same way.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pyarrow as pa
from pandas.errors import EmptyDataError, ParserError

from mlapp.sources import unnamed_compression
from mlapp.tables import MORE_FIELDS, first_non_utf8_line

# Errors reading a file that are its content's: empty, ragged, not UTF-8, not Parquet, not
# compressed as named (``sources.opened`` raises ParserError for those).
UNREADABLE: tuple[type[Exception], ...] = (EmptyDataError, ParserError, UnicodeDecodeError, pa.ArrowInvalid)
EMPTY = "it is empty (no header line naming its columns)"
# pandas' C tokenizer: the header's field count, the file's 1-based line, that line's count.
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


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
    in the file)."""
    if packed := unnamed_compression(source):
        return compressed_unnamed(source, packed)
    line = first_non_utf8_line(source)
    return f"{f'line {line}' if line else 'it'} is not UTF-8 text: save the file as UTF-8"


def compressed_unnamed(source: str | Path, packed: str) -> str:
    """What is said of a file compressed (``packed``: its suffix) under a name that does not say so."""
    return f"it is {packed}-compressed: name it so ({PurePosixPath(str(source)).name}{packed})"
