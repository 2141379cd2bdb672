"""Rows with fewer fields than the header, which pandas pads with missing values unsaid: a file
cut short (a partial upload ends in half a line) lost a label or a feature there, silently.

pandas' C tokenizer pads a short row before anything sees it, so the check counts instead, in
the pass pandas reads: the separators in the bytes it reads (``Counted``), less those inside
its values (quoted), are the header's and each row's. Every row read holds at most the
header's fields (``read_csv`` refuses more), so they add up to (fields - 1) x (rows + 1)
exactly when no row is short; blank lines hold none (pandas skips them). Only when they do not
is the file read again (``short_rows``), to name the lines: quotes, blank lines and CRLF as
pandas reads them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.errors import ParserError

FEWER_FIELDS = "a row has fewer fields than the header names"
MORE_FIELDS = "a row has more fields than the header names"
SHOWN = 5  # lines named in the error; the rest are counted
# Said where the lines cannot be named: a stream (not read twice), a value csv cannot read.
UNPLACED = f"{FEWER_FIELDS} (the rows' fields do not add up to the header's: give each row all its fields)"


class Counted(io.RawIOBase):
    """``raw`` as pandas reads it, counting the separators in its bytes and whether one is a quote."""

    def __init__(self, raw: IO[bytes], sep: str) -> None:
        self._raw, self._sep = raw, sep.encode()
        self.separators, self.quoted = 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        block = self._raw.read(len(buffer))
        self.separators += _occurrences(block, self._sep)
        self.quoted = self.quoted or b'"' in block
        buffer[: len(block)] = block
        return len(block)


class Tally:
    """The separators of the rows pandas gave, against those its bytes held (``Counted``)."""

    def __init__(self, counted: Counted, columns: pd.Index, sep: str, missing: Sequence[str]) -> None:
        self._counted, self._encoded, self._fields = counted, sep.encode(), len(columns)
        self._rows, self._inside = 0, sum(str(name).count(sep) for name in columns)
        # A quoted missing value holding the separator is read as missing: its separator uncounted.
        self._blind = any(sep in value for value in missing)

    def add(self, chunk: pd.DataFrame) -> None:
        self._rows += len(chunk)
        # A separator inside a value was quoted: none to count before the first quote was read.
        if self._counted.quoted:
            self._inside += sum(_count(pa.array(chunk[column]), self._encoded) for column in chunk.columns)

    def short(self) -> bool:
        """Whether the rows' fields may not add up to the header's: a short row, most likely."""
        if self._blind and self._counted.quoted:
            return True
        return self._counted.separators - self._inside != (self._fields - 1) * (self._rows + 1)


def _count(values: pa.Array | pa.ChunkedArray, sep: bytes) -> int:
    """``sep`` in the bytes of a text column's values, counted in its Arrow data buffer at once
    (value by value, pyarrow's count_substring made a quoted file's read 20% slower). A missing
    value's bytes, if Arrow kept any, only add to the count: a file read again, never one passed."""
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.large_string())
    total = 0
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        _, offsets, data = chunk.buffers()
        if data is None or not len(chunk):
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        ends = np.frombuffer(offsets, dtype=width)[[chunk.offset, chunk.offset + len(chunk)]]
        total += _occurrences(memoryview(data)[int(ends[0]) : int(ends[1])], sep)
    return total


def _occurrences(data: bytes | memoryview, sep: bytes) -> int:
    """``sep`` in ``data``; a one-byte separator (any ASCII one) compared by numpy, 15 times as
    fast as ``bytes.count`` on CSV text."""
    if len(sep) == 1:
        return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == sep[0]))
    return bytes(data).count(sep)


class _Lines:
    """A text's lines, keeping the last one given (csv.reader does not say what a row's line held)."""

    def __init__(self, text: IO[str]) -> None:
        self._text, self.last = text, ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.last = next(self._text)
        return self.last


def short_rows(stream: IO[bytes], sep: str) -> tuple[int, list[tuple[int, int]], bool]:
    """The header's fields, the short rows (their first line, their fields), and whether the
    last row is short and lacks its line break (a file cut short)."""
    lines = _Lines(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    reader = csv.reader(lines, delimiter=sep, skipinitialspace=True)
    header = len(next(reader, []))
    short: list[tuple[int, int]] = []
    start, cut = reader.line_num + 1, False
    for row in reader:
        # pandas skips a line of spaces (csv reads [""]); a line holding "" is a row of one field.
        if row and not (row == [""] and '"' not in lines.last):
            if len(row) < header:
                short.append((start, len(row)))
            cut = len(row) < header and not lines.last.endswith(("\n", "\r"))
        start = reader.line_num + 1
    return header, short, cut


def fewer_fields(header: int, short: list[tuple[int, int]], cut: bool, sep: str) -> str:
    """``FEWER_FIELDS`` and where, as ``MORE_FIELDS`` is said: the first lines, the count, the fix."""
    if len(short) == 1:
        line, fields = short[0]
        where = f"line {line}: {fields} field{'s' if fields != 1 else ''}, the header names {header}"
    else:
        shown = ", ".join(f"{line} ({fields})" for line, fields in short[:SHOWN])
        more = f" and {len(short) - SHOWN} more" if len(short) > SHOWN else ""
        where = f"{len(short)} rows, lines (fields) {shown}{more}; the header names {header}"
    fix = (
        "the last line is cut short (a partial upload or copy): write the file again in full"
        if cut and len(short) == 1
        else f"give each row a field for every column, an empty one ({sep}{sep}) for a missing value"
    )
    return f"{FEWER_FIELDS} ({where}; {fix})"


def refuse_short(stream: IO[bytes], sep: str) -> None:
    """``ParserError`` naming the short rows of a file whose fields did not add up (``Tally``);
    nothing when, read again, it holds none: a separator inside a quoted missing value (read
    as missing, not counted) is one."""
    try:
        header, short, cut = short_rows(stream, sep)
    except csv.Error:  # a value past csv's field_size_limit (128 KiB), which pandas reads
        raise ParserError(UNPLACED) from None
    if short:
        raise ParserError(fewer_fields(header, short, cut, sep))
