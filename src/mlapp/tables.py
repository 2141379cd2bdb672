"""Reading and writing tables the same way in every stage: CSV and Parquet read in chunks, Parquet
written piece by piece (``FrameParts``), and the tables one stage writes for the next."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.errors import ParserError, ParserWarning

from mlapp.csv_fields import MORE_FIELDS, UNPLACED, Counted, Tally, refuse_short
from mlapp.csv_names import (
    CsvSource,
    extra_field,
    refuse_repeated,
    repeated,
    separator_fix,
    tokenizer_memory,
    with_head,
)
from mlapp.errors import UserError, interrupts_kept, not_built, writing
from mlapp.files import replacing, staged_beside
from mlapp.sources import opened

THREADS = False  # pyarrow's thread pools, to read Parquet (see ``parquet_file``) and convert frames


def read_csv(source: CsvSource, missing: Sequence[str], rows: int, sep: str) -> Iterator[pd.DataFrame]:
    """The one way a CSV is read (training, batch scoring, monitoring), ``rows`` rows at a time
    (numbered across chunks): every column as text (typing is the schema's job), a cell
    missing exactly when it is one of ``missing`` (``data.missing_values``, not pandas' own
    list, where a category "NA" or "None" vanishes), fields separated by ``sep``
    (``data.csv_separator``). A path or a URL (``mlapp.sources.opened``: decompressed as its name
    says), or a binary stream as it is.

    A row with more fields than the header is an error (``ParserError``): pandas would shift
    every column of a file whose rows all end in an extra comma, or drop the extra values. So is
    one with fewer (``mlapp.csv_fields``), after the last chunk: pandas pads it with missing values."""
    if isinstance(source, (str, Path)):
        try:
            with opened(source) as stream:
                yield from read_csv(stream, missing, rows, sep)
        except _Short:
            with opened(source) as stream:  # read again, to name the lines
                refuse_short(stream, sep)
        return
    replayed, head = with_head(source)  # the header as written, read again if a name looks repeated
    counted = Counted(replayed, sep)
    tally: Tally | None = None  # the header checked, the rows counted
    options = {
        "sep": sep,
        "dtype": str,
        "keep_default_na": False,
        "na_values": list(missing),
        "index_col": False,
        "skipinitialspace": True,  # "a, b": the names and values, not " b"
    }
    with tokenizer_memory(), interrupts_kept(ParserError):  # its first read: the header
        reader = pd.read_csv(io.BufferedReader(counted), chunksize=rows, **options)  # type: ignore[call-overload]
    with reader:
        while True:
            with warnings.catch_warnings(), tokenizer_memory(), interrupts_kept(ParserError):
                warnings.simplefilter("error", ParserWarning)  # index_col=False warns, then drops
                try:
                    chunk = next(reader)
                except StopIteration:
                    if tally is not None and tally.short():
                        raise _Short(UNPLACED) from None
                    return
                except ParserWarning as exc:
                    # pandas' warning names no line: the first such row among the first bytes, if there.
                    raise ParserError(f"{MORE_FIELDS} ({extra_field(head, sep) or exc})") from None
            if tally is None:
                _check_header(chunk.columns, head, sep)
                tally = Tally(counted, chunk.columns, sep, missing)
            tally.add(chunk)
            yield chunk


class _Short(ParserError):
    """Fields that do not add up (``csv_fields.Tally``): said so of a stream, by line of a file."""


def _check_header(columns: pd.Index, head: io.BytesIO, sep: str) -> None:
    """``ParserError`` for a header pandas read without complaint but wrongly: a name written
    twice (pandas renames the second), another separator than ``sep`` (one column named "a;b"),
    or a row with more fields than the header (see ``read_csv``)."""
    refuse_repeated(columns, head, sep)
    if wrong := separator_fix(list(columns), sep, tsv=sep == "\t"):  # the scorer, the monitor
        raise ParserError(wrong)
    # With "" a missing cell, pandas drops an empty field past the header's silently (a
    # trailing comma), else it warns: one file read two ways. After the separator's check.
    if extra := extra_field(head, sep):
        raise ParserError(f"{MORE_FIELDS} ({extra})")


def parquet_file(source: str | Path | IO[bytes]) -> pq.ParquetFile:
    """A Parquet file to read; ``ParserError`` for a column named twice (pyarrow writes such
    files; pandas then gives a frame where one name is two columns, pyarrow's reader a schema
    dump), said as a CSV header naming one twice is.

    Read in the calling thread (``THREADS``): pyarrow's thread pools start their threads on first
    use and abort the process (std::system_error, exit 134) when one cannot start, as under
    `ulimit -v` where its stack cannot be mapped; one chunk at a time, they bought no speed worth that."""
    file = pq.ParquetFile(source, pre_buffer=False)  # pre-buffering reads through the I/O pool
    if twice := repeated(file.schema_arrow.names):
        raise ParserError(f"the columns {twice} appear more than once: give each column its own name")
    return file


def parquet_table(source: str | Path | IO[bytes], columns: Sequence[str] | None = None) -> pa.Table:
    """A whole Parquet file (``parquet_file``), or ``columns`` of it, read in the calling thread."""
    return parquet_file(source).read(columns=columns, use_threads=THREADS)


def parquet_batches(source: str | Path | IO[bytes] | pq.ParquetFile, rows: int) -> Iterator[pd.DataFrame]:
    """The one way a Parquet file (``parquet_file``) is read in chunks (validate, batch scoring,
    monitoring), ``rows`` rows at a time, each converted as the whole file is (``as_frame``).
    A file without rows is one empty chunk with its columns, as ``read_csv`` gives a header alone:
    pyarrow yields no batch for it, and its columns are still checked (named when wrong)."""
    file = source if isinstance(source, pq.ParquetFile) else parquet_file(source)  # opened: its schema read
    start = 0
    for batch in file.iter_batches(batch_size=rows, use_threads=THREADS):
        yield as_frame(batch, start)
        start += batch.num_rows
    if not start:
        yield as_frame(file.schema_arrow.empty_table())


def as_frame(data: pa.Table | pa.RecordBatch, start: int = 0) -> pd.DataFrame:
    """Parquet rows in pandas, whole (``raw_table.read_raw``) or in chunks (``parquet_batches``),
    numbered by their position in the file from ``start``, as a CSV's rows are: a stored pandas
    index is no row number (a filtered table's 3, 7, 9 are rows 0, 1, 2 to every other reader), and
    a named one is a column of the file (``set_index('customer_id')``), kept as one. Whole numbers
    with a gap stay ints (object), not float64 in the chunks holding a null only (7 as '7.0')."""
    frame = data.to_pandas(integer_object_nulls=True, use_threads=THREADS)
    if named := [name for name in frame.index.names if name is not None]:
        frame = frame.reset_index(level=named)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


class FrameParts:
    """Writes a table piece by piece into a temporary file next to ``path``, renamed into place
    by ``commit``: leaving the block without committing (a failure, Ctrl-C) leaves ``path`` as it
    was. Rows wait for a whole row group (``GROUP`` rows, held typed): the file's bytes do
    not depend on the pieces' sizes (validate's chunk_rows); ``metadata`` replaces the schema's
    key-value metadata (pandas' own included). ``types``: each column's type in the input, for a
    column null in every row of the first piece: pandas holds it as object, pyarrow reads no type
    off it (``null``) and no later piece holding values could be written."""

    GROUP = 128 * 1024  # pyarrow's (ROW_GROUP, 1M rows) held typed: +290 MB of validate's peak at 1M rows

    def __init__(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        self.path = path
        self.metadata = metadata
        self.types: dict[str, pa.DataType] = {}  # set before the first piece is written
        self.tmp: Path | None = None
        self.writer: pq.ParquetWriter | None = None
        self.pending: pa.Table | None = None  # rows short of a row group

    def __enter__(self) -> FrameParts:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        schema = self.writer.schema if self.writer else None  # every piece typed as the first
        try:
            schema = self.typed(frame) if schema is None else schema
            table = pa.Table.from_pandas(
                frame, schema=schema, preserve_index=False, nthreads=None if THREADS else 1
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise UserError(f"cannot write {self.path}: {unwritable(frame, schema, exc)}") from None
        with writing(self.path):  # a read-only or full disk: one line naming the file
            if self.writer is None:
                self.tmp = staged_beside(self.path)
                first = table.schema if self.metadata is None else table.schema.with_metadata(self.metadata)
                self.writer = pq.ParquetWriter(self.tmp, first, compression="snappy")
            self.pending = table if self.pending is None else pa.concat_tables([self.pending, table])
            while self.pending is not None and self.pending.num_rows >= self.GROUP:
                self.writer.write_table(self.pending.slice(0, self.GROUP).combine_chunks())
                self.pending = self.pending.slice(self.GROUP) if self.pending.num_rows > self.GROUP else None

    def typed(self, frame: pd.DataFrame) -> pa.Schema | None:
        """The first piece's schema: pyarrow's, read off its values, ``types`` where it reads none
        (any other stays pyarrow's: a map column, given its type, does not convert back)."""
        if not self.types:
            return None
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        for name, kind in self.types.items():
            if (at := schema.get_field_index(name)) >= 0 and pa.types.is_null(schema.field(at).type):
                schema = schema.set(at, pa.field(name, kind))
        return schema

    def commit(self) -> None:
        if self.writer is None or self.tmp is None:
            raise ValueError(f"nothing was written for {self.path}")
        with writing(self.path):
            if self.pending is not None:  # the last rows (a table of none: its empty group)
                self.writer.write_table(self.pending.combine_chunks())
            self.writer.close()
            self.tmp.replace(self.path)
        self.writer = self.tmp = self.pending = None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def unwritable(frame: pd.DataFrame, schema: pa.Schema | None, exc: pa.ArrowException) -> str:
    """Why a piece (indexed by its rows) is no Parquet: its first column pyarrow cannot convert,
    to the type the first piece fixed for it, or at all."""
    for name in frame.columns:
        kind = schema.field(name).type if schema is not None and name in schema.names else None
        try:
            pa.array(frame[name], type=kind, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            rows = f"rows {frame.index[0]}-{frame.index[-1]}" if len(frame) else "no rows"
            rule = f"one type in every row: {kind}" if kind else "values of one Parquet type"
            return f"column {name!r} ({rows}) must hold {rule} ({error.args[0]})"
    return str(exc)


def stage_table(path: Path, needs: Iterable[str] = ()) -> Path:
    """``path``, when it is a Parquet file with the columns ``needs``: what a stage's input
    (written by the stage before it, or given as --input) must be. Anything else is said in one
    line naming the file, before any work: pandas reads a folder as a dataset of the files in it."""
    if not path.exists():
        raise UserError(not_built(str(path)))
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (OSError, pa.ArrowException) as exc:
        raise UserError(
            f"{path} is not a Parquet file ({exc}): pass a table a pipeline stage wrote"
        ) from None
    if lacking := [name for name in needs if name not in names]:
        raise UserError(
            f"{path} has no column {', '.join(map(repr, lacking))}: not a table of this pipeline "
            "(the columns params.yaml's data: names); pass one a pipeline stage wrote, or, written "
            "before data: changed, run the stages again (`uv run dvc repro`)"
        )
    return path


def read_frame(path: Path, needs: Iterable[str] = ()) -> pd.DataFrame:
    """A table a stage wrote (``stage_table``: one error line for anything else)."""
    return pd.read_parquet(stage_table(path, needs))


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with replacing(path) as tmp:
        frame.to_parquet(tmp, index=False)


# pyarrow's default row group (rows): gathering one group at a time writes the same bytes as
# writing the gathered table at once.
ROW_GROUP = 1024 * 1024


def write_rows(table: pa.Table, positions: np.ndarray, path: Path) -> None:
    """The rows of ``table`` at ``positions`` (read from a ``write_frame`` file), gathered one row
    group at a time: memory holds the table and one group, not a second copy. The bytes are those
    ``write_frame`` gives the same rows in pandas (the schema carries the same pandas metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, table.schema, compression="snappy") as writer:
        for start in range(0, max(len(positions), 1), ROW_GROUP):
            writer.write_table(table.take(positions[start : start + ROW_GROUP]))
