"""A batch of recent data: read it (table or prediction log) and validate it like training data.

Accepted sources, by file name: ``.csv`` / ``.tsv`` (tab-separated) / ``.parquet`` tables with
the feature columns (id, event-time and label columns optional), or a ``.jsonl`` / ``.ndjson`` prediction log,
one JSON object per line (CSV, TSV and logs may be compressed, ``.gz``, ``.bz2``, ``.xz``, as
data.raw may)::

    {"id": "...", "ts": "2026-11-23T10:00:00Z", "features": {...}, "probability": 0.31,
     "label": 1, "model_version": "3f2a..."}

In a log, ``label`` is the service's decision; the ground truth, once known, is joined in
under the label column's name from params.yaml (``data.label``, e.g. ``"churned": 0``).
``id`` and ``ts`` fill the id and event-time columns. A path or any URL fsspec can open
(``s3://...`` with ``dvc[s3]`` installed) works.

``mlapp monitor run`` reads it ``monitor.chunk_rows`` rows at a time (``read_chunks``, each chunk
indexed by its rows in the file); ``read_batch`` holds it whole (tests, one-off checks) and
``read_source`` reads it as a table for the retraining data refresh.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from mlapp.errors import storage_errors
from mlapp.labels import label_text
from mlapp.monitor.checks import BatchCheck, batch_schema
from mlapp.monitor.logs import Log, log_chunks
from mlapp.monitor.rows import MonitorError
from mlapp.monitor.served import Scores
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.sources import TABLE_FORMATS, local_file, opened, separator, table_format
from mlapp.tables import as_frame, parquet_batches, parquet_table, read_csv
from mlapp.unreadable import why_unreadable

# The tables data.raw and the scorer read (mlapp.sources), and prediction logs.
TABLE_SUFFIXES = {**TABLE_FORMATS, ".jsonl": "jsonl", ".ndjson": "jsonl"}
# A log's text: a BOM (Notepad, PowerShell) is read past, as a CSV's is, not "line 1 is no JSON".
LOG_ENCODING = "utf-8-sig"


class InvalidBatch(MonitorError):
    def __init__(self, source: str, problems: list[Problem], rows: int) -> None:
        lines = "\n".join(f"  - {p.line()}" for p in problems)
        super().__init__(f"batch {source} ({rows} rows) is invalid: {len(problems)} problem(s)\n{lines}")
        self.source = source
        self.problems = problems
        self.rows = rows


@dataclass(frozen=True)
class Served:
    """What the prediction log says the service did, to compare with the model here."""

    probability: Scores  # logged score per row (NaN where absent): the task's (served.Scores)
    model_versions: dict[str, int]
    cut_line: int | None = None  # the last line, written in part and left out (logs.Log.cut_line)


@dataclass(frozen=True)
class Batch:
    source: str
    format: str
    frame: pd.DataFrame  # typed features, plus id / event time / label (float, NaN = unknown)
    served: Served | None


def source_format(source: str) -> str:
    # CSV and logs may be compressed (logrotate leaves .gz); Parquet compresses inside the file.
    if (fmt := table_format(source, TABLE_SUFFIXES)) is None:
        raise MonitorError(
            f"cannot tell the format of {source}: expected a name ending in {', '.join(TABLE_SUFFIXES)} "
            "(.csv, .tsv and .jsonl may be compressed: .gz, .bz2, .xz)"
        )
    return fmt


def _read_text(source: str) -> str:
    """A path or URL (fsspec's protocols with DVC's extras, dvc[s3]...), decompressed by its name."""
    with opened(source) as handle:
        return handle.read().decode(LOG_ENCODING)


def validate_batch(frame: pd.DataFrame, params: Params, source: str) -> pd.DataFrame:
    """The typed batch, or ``InvalidBatch`` naming column, rule, values and rows (0-based)."""
    check = BatchCheck(params)
    validated = check.add(frame)
    if problems := check.problems():
        raise InvalidBatch(source, problems, check.rows)
    return validated


# A yes/no label of a binary model trained on 0/1 (or the reverse): the same two classes, false
# the negative and true the positive one, as training names them (train.positive_hint).
YES_NO: dict[tuple[str, ...], dict[str, str]] = {
    ("0", "1"): {"false": "0", "true": "1"},
    ("false", "true"): {"0": "false", "1": "true"},
}


def as_classes(labels: pd.Series, classes: list[str]) -> pd.Series:
    """Class labels as text, with one equal as a number to exactly one of ``classes`` as that class.

    A CSV whose label column has blanks (ground truth not known yet) holds 0.0/1.0 when pandas
    wrote it, where the training table says 0/1: the same classes, as in a Parquet batch. A
    yes/no (a Parquet or pandas boolean, or text "True" in a CSV) is 1/0 to a 0/1 model (``YES_NO``).
    """
    numbers = pd.to_numeric(pd.Series(classes, index=classes), errors="coerce")
    by_number = {n: name for name, n in numbers.dropna().drop_duplicates(keep=False).items()}
    as_class = pd.to_numeric(labels, errors="coerce").map(by_number)
    if (yes_no := YES_NO.get(tuple(sorted(classes)))) is not None:
        as_class = as_class.fillna(label_text(labels).map(yes_no))
    return labels.where(labels.isin(classes) | as_class.isna(), as_class)


def _log_rows(text: str, params: Params, source: str) -> tuple[pd.DataFrame, Served]:
    log = Log(params.validate_.max_failure_examples)
    # Lines as read_chunks reads them: with their newlines (a last one without is a write cut
    # short), split at line ends only (str.splitlines also splits at U+2028, valid inside a JSON text).
    lines = io.StringIO(text, newline=None)
    ((frame, scores),) = log_chunks(lines, params, len(text) + 1, log)  # one chunk
    if problems := log.problems or ([log.unusable] if log.unusable else []):
        raise InvalidBatch(source, problems, len(frame))
    return frame, Served(scores, dict(sorted(log.versions.items())), log.cut_line)


def _local(source: str) -> None:
    """A path or file:// URL: checked here; other URLs when read."""
    local = local_file(source)
    if local is not None and local.is_dir():
        raise MonitorError(f"source {source} is a folder: pass one file (--source or monitor.source)")
    if local is not None and not local.is_file():
        raise MonitorError(f"source {source} not found (pass --source or set monitor.source)")


@contextmanager
def _reading(source: str, fmt: str) -> Iterator[None]:
    """A source that cannot be read as its name says: one ``MonitorError`` line."""
    # pandas/pyarrow parse errors are ValueErrors; s3:// adds botocore's own
    unreadable: tuple[type[Exception], ...] = (ValueError, *storage_errors())
    try:
        yield
    except FileNotFoundError as exc:  # a remote URL: local files were checked above
        raise MonitorError(f"source {source} not found ({exc})") from exc
    except unreadable as exc:  # empty, ragged, not UTF-8...: said as validate and the scorer say it
        raise MonitorError(f"cannot read {source} as {fmt}: {why_unreadable(exc, source)}") from exc


def read_source(source: str, params: Params) -> tuple[str, pd.DataFrame, Served | None]:
    """The batch as read (untyped for CSV), its format, and the served scores of a log."""
    fmt = source_format(source)
    _local(source)
    with _reading(source, fmt):
        if fmt == "jsonl":
            frame, served = _log_rows(_read_text(source), params, source)
            return fmt, frame, served
        if fmt == "parquet":
            with opened(source, seekable=True) as stream:  # as read_chunks reads it (as_frame)
                return fmt, as_frame(parquet_table(stream)), None
        data, rows = params.data, params.validate_.chunk_rows
        sep = separator(fmt, data.csv_separator)  # a .tsv's tab
        return fmt, pd.concat(read_csv(source, data.missing_values, rows, sep)), None


def read_chunks(source: str, params: Params, log: Log) -> Iterator[tuple[pd.DataFrame, Scores | None]]:
    """The batch as read, ``monitor.chunk_rows`` rows at a time (indexed by their 0-based rows in
    the file), each with its logged scores (a log; ``log`` gathers the rest of what it says)."""
    fmt = source_format(source)
    _local(source)
    rows = params.monitor.chunk_rows
    with _reading(source, fmt):
        if fmt == "jsonl":
            with opened(source) as handle:
                lines = io.TextIOWrapper(handle, encoding=LOG_ENCODING)
                yield from log_chunks(lines, params, rows, log, batch_schema(params).columns)
        elif fmt == "parquet":
            with opened(source, seekable=True) as stream:
                for frame in parquet_batches(stream, rows):  # no rows: one empty chunk, its columns checked
                    yield frame, None
        else:
            sep = separator(fmt, params.data.csv_separator)  # a .tsv's tab
            for frame in read_csv(source, params.data.missing_values, rows, sep):
                yield frame, None


def read_batch(source: str, params: Params) -> Batch:
    fmt, frame, served = read_source(source, params)
    return Batch(source, fmt, validate_batch(frame, params, source), served)
