"""A prediction log's records as table rows, chunk by chunk (``log_chunks``), and what the log says
beyond its rows (``Log``): the models that served them, its lines that are no record, its
columns, its served scores that are no score (``mlapp.monitor.served``), and its records whose
``features`` hold a column the record's own fields fill (``clash``).

A record's own fields fill the id column (``id``), the event-time column (``ts``) and the
ground truth (the label column's name, beside ``features``). The service's ``features`` never
holds these (its request schema refuses them); another writer's may. There, the id or time is
read when the record has no ``id`` / ``ts`` of its own or the same value; a different one is
refused, its rows named, rather than one of the two silently kept; a time is the same value
when it is the same instant, however its UTC offset is written (``Z``, ``+00:00``, ``+01:00``
an hour later on the clock). The label column inside
``features`` is always refused: the model's inputs are no ground truth, and read as such they
would make decay a measure of whatever a writer put there.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlapp.json_keys import DuplicateKey, no_duplicates
from mlapp.monitor.served import SCORE_FIELDS, Scores, served_scores
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.schema import FEATURES
from mlapp.stages.parse_failures import merge

# What a record's own fields are, said in the rule of a clash with ``features``.
OWN = {"id": "the record's id", "ts": "the record's ts"}
# A log's last line written in part (``Log.cut_line``), as the run's line and report say it.
CUT_LINE = "line {line}, the last, was cut short mid-write (no newline, not JSON) and is left out"
LABEL_INSIDE = "beside 'features' (the ground truth, joined in), not inside it (the model's inputs)"

# Keys of ``features`` that name no column, read as columns (the check names them) up to this
# many: each is a column of every chunk, so a new one in every record (a request id written as a
# key) made memory grow with rows x keys (measured peak: 425 MB at 2,000 such records, 1.7 GB at 6,000).
EXTRA_KEYS = 100
EXTRA_RULE = (
    f"at most {EXTRA_KEYS} keys in 'features' that are no column (the schema's, data.label, "
    "id_column, time_column, group_column or data.ignore_columns): a new key in record after record "
    "(an id written as a key?) is no feature; write such values beside 'features', or leave them out"
)

# What the service writes in a log record. A label column of one of these names cannot be joined
# in as ground truth (`label` is the service's own decision): such a log's rows are unlabeled.
LOG_FIELDS = frozenset(
    {"id", "ts", "features", "probability", "probabilities", "prediction", "label", "model_version"}
)


@dataclass
class Log:
    """What a prediction log says beyond its rows, gathered as its lines are read: the models
    that served them, its lines that are not records (at most ``limit``), its columns, and its
    scores that are no probability (``classes``: a multiclass model's, to check them against)."""

    limit: int
    versions: Counter[str] = field(default_factory=Counter)
    lines: list[Problem] = field(default_factory=list)  # the first ``limit`` lines refused
    refused: int = 0  # every line refused
    columns: dict[str, None] = field(default_factory=dict)  # every record's keys so far, in order
    unseen: list[str] = field(default_factory=list)  # the schema's columns no record has had so far
    classes: list[str] | None = None
    unusable: Problem | None = None  # the served scores that are no probability, rows across chunks
    clashes: dict[str, Problem] = field(default_factory=dict)  # by column, rows across chunks
    cut_line: int | None = None  # the last line, written in part: left out (``log_chunks``)
    extra: dict[str, None] = field(default_factory=dict)  # keys that name no column, as read

    def refuse(self, line: int, rule: str) -> None:
        self.refused += 1
        if len(self.lines) < self.limit:
            self.lines.append(Problem(f"<line {line}>", rule, 1))

    @property
    def problems(self) -> list[Problem]:
        """The lines named, and how many more there are: a log of 2,000 such lines read as 5."""
        more = self.refused - len(self.lines)
        rule = f"one record a line: {more} more line(s) are not (the first {len(self.lines)} named above)"
        return [*self.lines, *([Problem("<file>", rule, 1)] if more else []), *self.clashes.values()]

    def clash(self, column: str, rule: str, value: Any, row: int) -> None:
        """Record ``row`` (0-based) as failing ``rule`` on ``column`` (``features`` holds it)."""
        found = Problem(column, rule, 1, [value], [row])
        self.clashes[column] = merge(self.clashes.get(column), found, self.limit)

    def scores(self, values: pd.Series, params: Params) -> Scores:
        """A chunk's served scores (P(positive), NaN where none); those that are no probability are
        noted in ``unusable``, as a column's failed rule is, whatever chunk holds them."""
        scores, found = served_scores(values, params.task, self.classes, params.data.decimal, self.limit)
        if found is not None:
            self.unusable = merge(self.unusable, found, self.limit)
        return scores


# Digits of the largest float (1.8e308): a longer JSON integer is no number pandas can hold.
FLOAT_DIGITS = len(str(int(sys.float_info.max)))


def _json_int(digits: str) -> int | str:
    """A log's integer as Python reads it, or its digits as text when no float holds it (10**400):
    pandas then raised OverflowError (a traceback) where the schema refuses the text as too large,
    as in a CSV, and Python refuses to read more than 4,300 digits at all (no line named)."""
    return digits if len(digits.lstrip("-")) >= FLOAT_DIGITS else int(digits)


def log_chunks(
    lines: Iterable[str], params: Params, rows: int, log: Log, expected: Iterable[str] = ()
) -> Iterator[tuple[pd.DataFrame, Scores]]:
    """A log's records ``rows`` at a time as table rows (numbered across chunks), with their logged
    scores; at least one chunk: an empty log (just rotated) has no rows, not "no feature columns".

    Every chunk has the columns of the whole log, as one table of all its records would: a key
    some records lack is missing values there, whatever chunk holds them. A chunk before the last
    also has the ``expected`` columns no record has had so far (``log.unseen``), as missing values
    (a later record may have the key); the last has the log's keys alone, so a key no record has
    is a missing column, as in the whole log."""
    served = SCORE_FIELDS.get(params.task, "probability")  # as logged: checked a chunk at a time
    data = params.data
    known = frozenset([*FEATURES, *filter(None, data.parts.values()), *data.ignore_columns])
    records: list[dict[str, Any]] = []
    scores: list[Any] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_int=_json_int, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as exc:
            _not_json(log, number, line, exc.msg)
            continue
        except DuplicateKey as exc:  # a writer's bug: which of the two values is the record's?
            log.refuse(number, f"an object with each key once ({exc.key!r} is written twice)")
            continue
        except RecursionError:  # [[[[... thousands deep: Python's reader gives up (a traceback)
            log.refuse(number, "valid JSON of a record's depth (arrays or objects nested thousands deep)")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("features"), dict):
            log.refuse(number, "an object with a 'features' object")
            continue
        if len(records) == rows:  # a chunk, and not the last: this record follows it
            yield _log_frame(records, scores, offset, log, expected, served, params)
            offset, records, scores = offset + rows, [], []
        records.append(_row(record, params, log, offset + len(records), known))
        scores.append(record.get(served))
        log.versions[str(record.get("model_version", "unknown"))] += 1
    if records or not offset:
        yield _log_frame(records, scores, offset, log, (), served, params)


def _not_json(log: Log, number: int, line: str, why: str) -> None:
    """Refuse a line that is no JSON, unless it is the last one cut short (``log.cut_line``)."""
    # Only the last line can lack its newline: a record's write cut short (a worker killed
    # mid-write with no writer after it to cut the rest, a file copied while being written).
    # The lines before it are whole; refusing them all for it failed such logs. A log of that
    # line alone is named by it, not read as "0 rows".
    if number == 1 or line.endswith("\n") or not line.lstrip().startswith("{"):
        log.refuse(number, f"valid JSON ({why})")
    else:
        log.cut_line = number


def _row(
    record: dict[str, Any], params: Params, log: Log, number: int, known: frozenset[str]
) -> dict[str, Any]:
    """A record's table row (``number``: its 0-based row): its features, and the id, event time
    and ground truth its own fields hold; where ``features`` holds one of those too, ``log``
    notes the clash (the module's docstring says which). Keys naming no column (not ``known``)
    past the first ``EXTRA_KEYS`` are left out of the row and noted as a clash."""
    data, row = params.data, dict(record["features"])
    left_out = []
    for key in [key for key in row if key not in known and key not in log.extra]:
        if len(log.extra) < EXTRA_KEYS:
            log.extra[key] = None
        else:
            left_out.append(key)
            del row[key]
    if left_out:  # once a record: its rows are the records'
        log.clash("<features>", EXTRA_RULE, left_out[0], number)
    if data.label in row:
        log.clash(data.label, LABEL_INSIDE, row.pop(data.label), number)
    # The time as written: parsed as a CSV's (one zone rule).
    for field_name, column in (("id", data.id_column), ("ts", data.time_column)):
        if not column or field_name not in record:
            continue
        own = record[field_name]
        if column in row and _differs(row[column], own, instants=field_name == "ts"):
            rule = f"one value a record: 'features' holds {column!r} and {OWN[field_name]} differs"
            log.clash(column, rule, f"{row[column]!r} in features, {own!r} as {field_name}", number)
        row[column] = own
    if data.label in record and data.label not in LOG_FIELDS:
        row[data.label] = record[data.label]
    return row


def _differs(one: Any, other: Any, *, instants: bool = False) -> bool:
    """Two JSON values that are not the same value written alike: 7 and 7.0 are two ids, as in a
    CSV, and true is no 1. ``instants``: two texts read as ISO 8601 times (as the schema reads
    them) are one value when both name the same instant, or the same wall clock without an offset;
    one with an offset and one without are two (is the other UTC, or local time?)."""
    if type(one) is not type(other):
        return True
    if one == other or not (instants and isinstance(one, str)):
        return one != other
    first, second = _instant(one), _instant(other)
    if first is None or second is None or (first.tzinfo is None) != (second.tzinfo is None):
        return True
    return bool(first != second)


def _instant(text: str) -> pd.Timestamp | None:
    """An ISO 8601 time as the schema's parse reads one (``cells.parse_values``), or None."""
    try:
        return pd.to_datetime(text.strip(), format="ISO8601")
    except ValueError:
        return None


def _log_frame(
    records: list[dict[str, Any]],
    scores: list[Any],
    offset: int,
    log: Log,
    expected: Iterable[str],
    served: str,
    params: Params,
) -> tuple[pd.DataFrame, Scores]:
    numbers = pd.RangeIndex(offset, offset + len(records))
    # Each value as logged, not typed per chunk by pandas: ids 7 and 7.0 are two, as in a CSV, in
    # any chunk (a chunk of numbers made both '7.0'). The schema's parsing types the features.
    if not records:
        return pd.DataFrame(columns=list(FEATURES)), pd.Series(dtype="float64")
    logged = log.scores(pd.Series(scores, index=numbers, dtype=object, name=served), params)
    frame = pd.DataFrame(records, index=numbers, dtype=object)
    log.columns.update(dict.fromkeys(frame.columns))
    log.unseen = [name for name in expected if name not in log.columns]
    columns = [*log.columns, *log.unseen]
    if list(frame.columns) != columns:  # missing values as the whole log's (object, not float64)
        frame = frame.reindex(columns=columns).astype(object)
    return frame, logged
