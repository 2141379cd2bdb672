"""The batch scorer's input (``score.py``): its format, its chunks, and which of its columns
beyond the features are copied beside the scores or read past.

A file is read ``serving.score_chunk_rows`` rows at a time, as training reads it (CSV, TSV:
text, ``data.missing_values``, ``data.csv_separator``) or with pyarrow (Parquet); a file that
cannot be read is a ``UserError`` naming why.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd
import pyarrow as pa

from mlapp.csv_names import misspelt
from mlapp.errors import UserError, storage_errors
from mlapp.schema import FEATURES
from mlapp.sources import TABLE_FORMATS, opened, separator, table_format
from mlapp.tables import parquet_batches, parquet_file, read_csv
from mlapp.unreadable import UNREADABLE, why_unreadable

FORMATS = sorted(set(TABLE_FORMATS.values()))  # --format's choices: csv, parquet, tsv


def input_format(source: str, given: str | None) -> str:
    if given:
        return given
    if (fmt := table_format(source, TABLE_FORMATS)) is None:
        raise UserError(
            f"cannot tell the format of {source!r} from its name: pass --format csv|tsv|parquet "
            "(a CSV or TSV may be compressed: .csv.gz, .tsv.bz2, .csv.xz)"
        )
    return fmt


def carried(
    columns: Sequence[str], keep: Sequence[str], id_column: str | None, written: Sequence[str]
) -> tuple[list[str], tuple[str, ...]]:
    """(the input's columns copied beside the scores: the id when the input has it, then each
    ``keep``; the columns read past: neither a feature nor copied). A ``keep`` the input lacks,
    or named as a column the scorer writes, is an error before anything is scored."""
    if lacking := [name for name in keep if name not in columns]:
        others = [name for name in columns if name not in FEATURES]
        near = "".join(
            f" (it has {have!r}, spelt close to {want!r})" for want, have, _ in misspelt(lacking, others)
        )
        raise UserError(f"--keep {lacking}: the input has no such column{near}")
    if clash := [name for name in keep if name in written]:
        raise UserError(f"--keep {clash}: the scorer writes a column of that name ({', '.join(written)})")
    ids = [id_column] if id_column and id_column in columns else []
    copied = list(dict.fromkeys([*ids, *keep]))
    return copied, tuple(str(name) for name in columns if name not in FEATURES and name not in copied)


Chunk = tuple[pd.DataFrame, pa.Schema | None]  # a chunk, the input's schema (Parquet's; None: a CSV's text)


def batches(source: str, fmt: str, chunk_rows: int, missing: list[str], sep: str) -> Iterator[Chunk]:
    # Unreadable (missing, empty, ragged, not Parquet, not UTF-8, not compressed as named): the user's to fix.
    try:
        yield from _batches(source, fmt, chunk_rows, missing, sep)
    except (*UNREADABLE, *storage_errors()) as exc:
        raise UserError(f"cannot read {source}: {why_unreadable(exc, source)}") from exc


def _batches(source: str, fmt: str, chunk_rows: int, missing: list[str], sep: str) -> Iterator[Chunk]:
    if fmt == "parquet":
        with opened(source, seekable=True) as f:
            file = parquet_file(f)
            for frame in parquet_batches(file, chunk_rows):
                yield frame, file.schema_arrow
        return
    # Read as training reads it (text, data.missing_values, data.csv_separator, decompressed by
    # the name); ``rejects.typed`` types the features value by value, so one bad value fails its row.
    for frame in read_csv(source, missing, chunk_rows, separator(fmt, sep)):  # a TSV's tab
        yield frame, None
