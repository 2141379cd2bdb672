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
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlapp.errors import storage_errors
from mlapp.monitor.checks import BatchCheck, batch_schema
from mlapp.monitor.rows import MonitorError
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.schema import FEATURES
from mlapp.sources import TABLE_FORMATS, local_file, opened, separator, table_format
from mlapp.tables import as_frame, not_utf8, parquet_batches, parquet_file, read_csv

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

    probability: pd.Series  # logged score per row (NaN where absent)
    model_versions: dict[str, int]


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


def as_classes(labels: pd.Series, classes: list[str]) -> pd.Series:
    """Class labels as text, with one equal as a number to exactly one of ``classes`` as that class.

    A CSV whose label column has blanks (ground truth not known yet) holds 0.0/1.0 when pandas
    wrote it, where the training table says 0/1: the same classes, as in a Parquet batch.
    """
    numbers = pd.to_numeric(pd.Series(classes, index=classes), errors="coerce")
    by_number = {n: name for name, n in numbers.dropna().drop_duplicates(keep=False).items()}
    as_class = pd.to_numeric(labels, errors="coerce").map(by_number)
    return labels.where(labels.isin(classes) | as_class.isna(), as_class)


# What the service writes in a log record. A label column of one of these names cannot be joined
# in as ground truth (`label` is the service's own decision): such a log's rows are unlabeled.
LOG_FIELDS = frozenset(
    {"id", "ts", "features", "probability", "probabilities", "prediction", "label", "model_version"}
)


@dataclass
class Log:
    """What a prediction log says beyond its rows, gathered as its lines are read: the models
    that served them, its lines that are not records (at most ``limit``), and its columns."""

    limit: int
    versions: Counter[str] = field(default_factory=Counter)
    lines: list[Problem] = field(default_factory=list)  # the first ``limit`` lines refused
    refused: int = 0  # every line refused
    columns: dict[str, None] = field(default_factory=dict)  # every record's keys so far, in order
    unseen: list[str] = field(default_factory=list)  # the schema's columns no record has had so far

    def refuse(self, line: int, rule: str) -> None:
        self.refused += 1
        if len(self.lines) < self.limit:
            self.lines.append(Problem(f"<line {line}>", rule, 1))

    @property
    def problems(self) -> list[Problem]:
        """The lines named, and how many more there are: a log of 2,000 such lines read as 5."""
        more = self.refused - len(self.lines)
        rule = f"one record a line: {more} more line(s) are not (the first {len(self.lines)} named above)"
        return [*self.lines, *([Problem("<file>", rule, 1)] if more else [])]


# Digits of the largest float (1.8e308): a longer JSON integer is no number pandas can hold.
FLOAT_DIGITS = len(str(int(sys.float_info.max)))


def _json_int(digits: str) -> int | str:
    """A log's integer as Python reads it, or its digits as text when no float holds it (10**400):
    pandas then raised OverflowError (a traceback) where the schema refuses the text as too large,
    as in a CSV, and Python refuses to read more than 4,300 digits at all (no line named)."""
    return digits if len(digits.lstrip("-")) >= FLOAT_DIGITS else int(digits)


def _log_chunks(
    lines: Iterable[str], params: Params, rows: int, log: Log, expected: Iterable[str] = ()
) -> Iterator[tuple[pd.DataFrame, pd.Series]]:
    """A log's records ``rows`` at a time as table rows (numbered across chunks), with their logged
    scores; at least one chunk: an empty log (just rotated) has no rows, not "no feature columns".

    Every chunk has the columns of the whole log, as one table of all its records would: a key
    some records lack is missing values there, whatever chunk holds them. A chunk before the last
    also has the ``expected`` columns no record has had so far (``log.unseen``), as missing values
    (a later record may have the key); the last has the log's keys alone, so a key no record has
    is a missing column, as in the whole log."""
    data = params.data
    records: list[dict[str, Any]] = []
    scores: list[float] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            log.refuse(number, f"valid JSON ({exc.msg})")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("features"), dict):
            log.refuse(number, "an object with a 'features' object")
            continue
        row = dict(record["features"])
        if "id" in record and data.id_column:
            row[data.id_column] = record["id"]
        if data.time_column and "ts" in record:
            row[data.time_column] = _naive_utc(record["ts"])
        if data.label in record and data.label not in LOG_FIELDS:
            row[data.label] = record[data.label]
        if len(records) == rows:  # a chunk, and not the last: this record follows it
            yield _log_frame(records, scores, offset, log, expected)
            offset, records, scores = offset + rows, [], []
        records.append(row)
        score = record.get("probability")
        scores.append(float(score) if isinstance(score, int | float) else float("nan"))
        log.versions[str(record.get("model_version", "unknown"))] += 1
    if records or not offset:
        yield _log_frame(records, scores, offset, log, ())


def _log_frame(
    records: list[dict[str, Any]], scores: list[float], offset: int, log: Log, expected: Iterable[str]
) -> tuple[pd.DataFrame, pd.Series]:
    numbers = pd.RangeIndex(offset, offset + len(records))
    # Each value as logged, not typed per chunk by pandas: ids 7 and 7.0 are two, as in a CSV, in
    # any chunk (a chunk of numbers made both '7.0'). The schema's parsing types the features.
    if not records:
        return pd.DataFrame(columns=list(FEATURES)), pd.Series(dtype="float64")
    frame = pd.DataFrame(records, index=numbers, dtype=object)
    log.columns.update(dict.fromkeys(frame.columns))
    log.unseen = [name for name in expected if name not in log.columns]
    columns = [*log.columns, *log.unseen]
    if list(frame.columns) != columns:  # missing values as the whole log's (object, not float64)
        frame = frame.reindex(columns=columns).astype(object)
    return frame, pd.Series(scores, index=frame.index, dtype="float64")


def _log_rows(text: str, params: Params, source: str) -> tuple[pd.DataFrame, Served]:
    log = Log(params.validate_.max_failure_examples)
    ((frame, scores),) = _log_chunks(text.splitlines(), params, len(text) + 1, log)  # one chunk
    if log.problems:
        raise InvalidBatch(source, log.problems, len(frame))
    return frame, Served(scores, dict(sorted(log.versions.items())))


def _naive_utc(stamp: Any) -> Any:
    """Log stamps carry a zone ("...Z"); the raw table's event time is naive UTC."""
    parsed = pd.to_datetime(stamp, utc=True, errors="coerce", format="ISO8601")
    return stamp if pd.isna(parsed) else parsed.tz_convert(None).strftime("%Y-%m-%dT%H:%M:%S")


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
    except UnicodeDecodeError as exc:  # a CSV or a log
        raise MonitorError(f"cannot read {source} as {fmt}: {not_utf8(source)}") from exc
    except unreadable as exc:
        raise MonitorError(f"cannot read {source} as {fmt}: {exc}") from exc


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
                return fmt, as_frame(parquet_file(stream).read()), None
        data, rows = params.data, params.validate_.chunk_rows
        sep = separator(fmt, data.csv_separator)  # a .tsv's tab
        return fmt, pd.concat(read_csv(source, data.missing_values, rows, sep)), None


def read_chunks(source: str, params: Params, log: Log) -> Iterator[tuple[pd.DataFrame, pd.Series | None]]:
    """The batch as read, ``monitor.chunk_rows`` rows at a time (indexed by their 0-based rows in
    the file), each with its logged scores (a log; ``log`` gathers the rest of what it says)."""
    fmt = source_format(source)
    _local(source)
    rows = params.monitor.chunk_rows
    with _reading(source, fmt):
        if fmt == "jsonl":
            with opened(source) as handle:
                lines = io.TextIOWrapper(handle, encoding=LOG_ENCODING)
                yield from _log_chunks(lines, params, rows, log, batch_schema(params).columns)
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
