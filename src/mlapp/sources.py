"""Where a table or log is read from: a path or a URL, decompressed as its name says.

One list of compressions and one of table suffixes for every reader: data.raw (the pipeline),
the batch scorer's input and the monitor's batch are read through ``opened`` and told apart by
``TABLE_FORMATS``, so a name one of them reads, the others read too, and a name none of them
reads (``.xlsx``, ``.json``) is refused by all, not parsed as a CSV. Parquet compresses inside
the file: ``table_format`` tells none for ``.parquet.gz``.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mlapp.errors import UserError

DECOMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# Compressions pandas would infer from a name, not read here: refused by name, not read as text.
NOT_READ = (".zip", ".zst", ".tar", ".tgz")
# A table's format by the suffix under its compression (any case): Parquet is also written ".pq";
# a ".tsv" is a CSV whose fields are separated by tabs, whatever data.csv_separator says.
TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
NAMED = ".csv or .tsv (either may be compressed: .gz, .bz2, .xz), .parquet or .pq"
# The first bytes of the compressions read: such data under a name without its suffix
# (batch.csv holding gzip) is said to be compressed, not text that is not UTF-8.
MAGIC = {b"\x1f\x8b": ".gz", b"BZh": ".bz2", b"\xfd7zXZ\x00": ".xz"}
# An http(s) source that sends nothing for this long fails the read (TimeoutError, an OSError the
# readers report in one line) instead of hanging a scheduled job: urllib waits forever by default.
URL_TIMEOUT_S = 60.0
# What a decompressor raises for data not compressed as the name says, or cut short.
CORRUPT: tuple[type[Exception], ...] = (OSError, EOFError, lzma.LZMAError)


def _name(source: str | Path) -> str:
    """The lower-case name of a path or URL; a URL's query is not part of it."""
    return str(source).split("?", 1)[0].lower()


def compression(source: str | Path) -> str | None:
    """The compression a path or URL is named with (a key of ``DECOMPRESSED``), None for none."""
    return next((suffix for suffix in DECOMPRESSED if _name(source).endswith(suffix)), None)


def format_suffix(source: str | Path) -> str:
    """The suffix that names the format under the compression: ``.csv`` for ``b.csv.xz?v=2``."""
    return PurePosixPath(_name(source).removesuffix(compression(source) or "")).suffix


def table_format(source: str | Path, formats: Mapping[str, str]) -> str | None:
    """The format ``formats`` (suffix: format) names for a path or URL, under its compression;
    None for a suffix it lacks, and for Parquet named as compressed."""
    fmt = formats.get(format_suffix(source))
    return None if fmt == "parquet" and compression(source) else fmt


def is_parquet(source: str | Path) -> bool:
    """Whether data.raw (or another table the pipeline reads) is Parquet by its name; a table
    that is not is a CSV (``.csv``, or ``.tsv`` read with tabs: ``separator``)."""
    return table_format(source, TABLE_FORMATS) == "parquet"


def separator(fmt: str | None, sep: str) -> str:
    """The field separator of a text table of format ``fmt``: a TSV's tab, else ``sep``
    (data.csv_separator): a ``.tsv`` read with commas is one column and confusing findings."""
    return "\t" if fmt == "tsv" else sep


def named_separator(source: str | Path, sep: str) -> str:
    """``separator`` for the format ``source`` is named with (data.raw, a table passed by path)."""
    return separator(table_format(source, TABLE_FORMATS), sep)


def unnamed_format(source: str | Path) -> str | None:
    """Why no reader reads ``source`` (``.xlsx``, ``.json``, ``.parquet.gz``), None for a name
    ``TABLE_FORMATS`` tells: one line naming the formats read."""
    if table_format(source, TABLE_FORMATS):
        return None
    if refused := not_read(source):
        return refused
    return (
        f"cannot tell the table format of {str(source)!r} from its name: name it {NAMED} "
        "(save a spreadsheet or JSON as one of them)"
    )


def not_read(source: str | Path) -> str | None:
    """Why a compression pandas would infer is not read here (``.zip``), None for the others."""
    if refused := next((s for s in NOT_READ if _name(source).endswith(s)), None):
        return f"{refused} compression is not read: compress with gzip, bzip2 or xz (.gz, .bz2, .xz)"
    return None


def unnamed_compression(source: str | Path) -> str | None:
    """The suffix of the compression ``source``'s first bytes show when its name shows none."""
    if compression(source):
        return None
    with opened(source) as stream:
        head = stream.read(6)
    return next((suffix for magic, suffix in MAGIC.items() if head.startswith(magic)), None)


def local_file(source: str | Path) -> Path | None:
    """The file a path or ``file://`` URL names; None for any other URL."""
    text = str(source)
    return Path(text.removeprefix("file://")) if "://" not in text or text.startswith("file://") else None


def refuse_overwriting(source: str | Path, *outputs: Path) -> None:
    """``UserError`` when an output names the file ``source`` reads: writing it would replace
    (or delete, append to) the input before or while it is read. A URL is no local file."""
    if (given := local_file(source)) is None:
        return
    for path in outputs:
        if path.resolve() == given.resolve() or (path.exists() and given.exists() and path.samefile(given)):
            raise UserError(f"{path} is the input {source}: write it to another file")


@contextlib.contextmanager
def opened(source: str | Path, *, seekable: bool = False) -> Iterator[IO[bytes]]:
    """The bytes of a path or URL (``http(s)://`` streamed; ``s3://``, ``gs://``... through
    fsspec), decompressed as its name says; a URL or a decompressed stream copied to a temporary
    file where the reader must seek (Parquet). Data that does not decompress is a ``ParserError`` naming the
    compression, as every reader reports a file it cannot read."""
    text = str(source)
    if refused := not_read(text):
        # lazy: params.yaml's checks (every command, --help too) use this module's names, not pandas
        from pandas.errors import ParserError

        raise ParserError(refused)
    with contextlib.ExitStack() as stack:
        local = local_file(text)
        if local is not None:
            stream: IO[bytes] = stack.enter_context(local.open("rb"))
        else:
            stream = stack.enter_context(_remote(text))
        # No bytes at all is an empty file whatever its compression: gzip reads it so, but bz2 and
        # lzma raise EOFError ("cut short"), so a file without a first byte is not decompressed.
        if (suffix := compression(text)) and (head := stream.read(1)):
            packed = io.BufferedReader(Replayed(head, stream))
            inner = stack.enter_context(DECOMPRESSED[suffix](packed, "rb"))
            stream = io.BufferedReader(_Decompressed(inner, suffix))
        if seekable and (suffix or local is None):
            copy = stack.enter_context(tempfile.TemporaryFile())
            shutil.copyfileobj(stream, copy, 1 << 20)
            copy.seek(0)
            stream = copy
        yield stream


def _remote(source: str) -> IO[bytes]:
    if source.startswith(("http://", "https://")):
        return urllib.request.urlopen(source, timeout=URL_TIMEOUT_S)  # noqa: S310 - the scheme is checked
    import fsspec  # s3://, gs://, az://: the protocol's fsspec package must be installed

    return fsspec.open(source, "rb").open()


class _Decompressed(io.RawIOBase):
    """A decompressing stream whose errors say so: gzip, bz2 and lzma each raise their own
    (``OSError``, ``EOFError``, ``LZMAError``), which would read as a disk or network fault."""

    def __init__(self, stream: IO[bytes], suffix: str) -> None:
        self._stream, self._suffix = stream, suffix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
        except CORRUPT as exc:
            from pandas.errors import ParserError  # lazy: as in ``opened``

            # gzip, bz2 and lzma raise EOFError for data that stops mid-stream, whatever the cut.
            said = (
                f"cut short: its {self._suffix} data ends before the compressed stream does (copied or "
                "downloaded only in part?)"
                if isinstance(exc, EOFError)
                else f"not {self._suffix}-compressed as its name says ({exc})"
            )
            raise ParserError(said) from exc
        buffer[: len(data)] = data
        return len(data)


class Replayed(io.RawIOBase):
    """``head`` (bytes already read from ``stream``), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head, self._stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data: bytes | memoryview
        if not self._head:
            data = self._stream.read(len(buffer))
        else:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        buffer[: len(data)] = data
        return len(data)
