"""The raw table (data.raw, or a one-off --input) as validate reads it: a CSV as text, Parquet as
stored (typing is validate's job), whole or in pieces."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from mlapp.sources import is_parquet, opened
from mlapp.tables import as_frame, parquet_batches, parquet_table, read_csv


def read_raw(path: Path, missing: Sequence[str], rows: int, sep: str) -> pd.DataFrame:
    """Raw input as text (CSV) or as stored (Parquet), as validate reads it in pieces (typing is its job)."""
    if is_parquet(path):
        return as_frame(parquet_table(path))
    return pd.concat(read_csv(path, missing, rows, sep))


def line_count(path: Path) -> int | None:
    """The lines of a CSV file (a last one without its line break too); None for Parquet."""
    if is_parquet(path):
        return None
    lines, last = 0, b"\n"
    with opened(path) as handle:
        while block := handle.read(1 << 20):
            lines, last = lines + block.count(b"\n"), block[-1:]
    return lines + (last != b"\n")


def read_raw_chunks(path: Path, rows: int, missing: Sequence[str], sep: str) -> Iterator[pd.DataFrame]:
    """``read_raw`` in pieces of at most ``rows`` rows, each indexed by its rows' 0-based
    positions in the file; a table without rows is one empty piece (its columns)."""
    if is_parquet(path):
        yield from parquet_batches(path, rows)
    else:
        yield from read_csv(path, missing, rows, sep)
