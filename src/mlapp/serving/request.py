"""A ``/predict`` body to the booster's input, and a readable 400 when it is not valid.

Fast path (nearly every request): orjson parses the body (strict JSON: no NaN/Infinity,
valid UTF-8 only), ``columns.FastPath`` checks and encodes it column by column. A body
with a duplicated key is invisible once parsed (the last value wins), so the fast path
also counts the colons in the raw bytes: a valid body has exactly one per key (``records``
plus one per feature per row); any other count sends it to the slow path.

Slow path (anything the fast path did not accept): the pydantic ``Input`` model validates
the raw bytes and its errors become the 400 (``detail``: ``type``, ``loc``, ``msg`` per
issue, as documented in ``/docs.json``); an otherwise valid body is then checked for
duplicate keys. So pydantic stays the authority on what is rejected and why.

Before either parser, ``structure.Structure`` refuses a body holding more JSON values than
any request does. Between them, an object of more different keys than pydantic's errors could
list (``sure_keys``) is found in orjson's parse and refused before pydantic builds an error per
key (``too_many_keys``); one holding a key written many times (orjson keeps one) by Python's parser,
when the body has that many more colons than orjson's keys, else once pydantic has counted them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
import orjson
import pandera.pandas as pa
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from mlapp.json_keys import DuplicateKey, no_duplicates
from mlapp.model import ModelSpec
from mlapp.serving.admission import Refused
from mlapp.serving.columns import FastPath
from mlapp.serving.issues import merge_look_alikes, past_model, sent_hints
from mlapp.serving.records import Encoder, field_rule, record_type
from mlapp.serving.structure import (
    CONTAINERS,
    SEPARATORS,
    STRUCTURE_SLACK,
    Crowded,
    Structure,
    colons_parsed,
    crowded,
    crowded_object,
    keys_parsed,
)

OTHER = "<other>"  # label for a field name the client made up: clients must not create series
# pydantic names every allowed value of a category in its message: past this, cut (/metadata has them)
MSG_CHARS = 200
# A key the client made up is named in ``loc`` (and a duplicate key's message) up to this: a 1 MB
# unknown key made a 1 MB 400, 20 of them (the issues listed) as much as the body cap.
KEY_CHARS = 64
# UTF-32's first (its little-endian mark begins with UTF-16's): a body in either is told to send UTF-8.
WIDE_BOMS = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32")]
WIDE_BOMS += [(codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")]


def input_type(record: Any, max_rows: int) -> Any:
    """The request body: ``{"records": [Record, ...]}``, 1..max_rows records, nothing else.

    Validation stops at the first invalid record (``fail_fast``): pydantic builds an error per
    issue, and 1,000 records of 17 unknown keys made 34,000 of them (0.2-0.7 s of a worker's
    event loop for a 105 KB body) where a 400 lists ``serving.max_error_details``."""
    records = Annotated[list[record], Field(min_length=1, max_length=max_rows, fail_fast=True)]
    Input = TypedDict("Input", {"records": records})  # noqa: UP013 - built at run time
    Input.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return Input


def _cut_key(key: str) -> str:
    return key if len(key) <= KEY_CHARS else key[:KEY_CHARS] + "…"


def _cut(msg: str) -> str:
    return msg if len(msg) <= MSG_CHARS else msg[:MSG_CHARS] + "… (the allowed values: /metadata)"


class RequestParser:
    def __init__(
        self,
        features: Mapping[str, pa.Column],
        spec: ModelSpec,
        max_rows: int,
        max_details: int,
        *,
        id_column: str | None,
        time_column: str | None,
        group_column: str | None = None,
        ignore_columns: Sequence[str] = (),
    ) -> None:
        self.record = record_type(features)
        self.input = TypeAdapter(input_type(self.record, max_rows))
        rules = {n: field_rule(n, c) for n, c in features.items()}
        self.structure = Structure(rules, max_rows)
        self.fast = FastPath(rules, spec, max_rows)
        self.encoder = Encoder(spec)
        self.width = len(features)
        # An object's keys past which pydantic's errors are not built (too_many_keys), and the error
        # count that says one holds that many: the top level and the first invalid record, each up
        # to ``max_keys`` keys, one error per key and per feature at most.
        self.max_keys = STRUCTURE_SLACK * self.width
        self.max_errors = 2 * self.max_keys + self.width + 1
        # An object of more different keys has more unknown ones than that: pydantic would count past
        # ``max_errors`` on reaching it. Fewer are pydantic's issues, each key named (a wide table's row).
        self.sure_keys = self.max_errors + self.width
        self.known_fields = frozenset(features) | {"records"}
        self.max_details = max_details
        # Each category's levels, the file's text (a code 1, 2, 3 too: "1", "2", "3"), and the features
        # that may be missing: what a refused value's hint is worked out from (issues.sent_hints).
        self.levels = {name: frozenset(levels) for name, levels in spec.categories.items()}
        self.nullable = frozenset(name for name, column in features.items() if column.nullable)
        # Whole rows of the training table sent as records: say what these columns are.
        self.not_features = {spec.label: "the label, what the model predicts"}
        for name in ignore_columns:  # a column of the file the model never sees (free text, an email)
            self.not_features[name] = "in data.ignore_columns, not a model input"
        if id_column:
            self.not_features[id_column] = "the id column (data.id_column)"
        if time_column:
            self.not_features[time_column] = "the event-time column (data.time_column)"
        if group_column:
            self.not_features[group_column] = "the group column (data.group_column), not a model input"

    def parse(self, body: bytes) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Records and their matrix, or ``Refused`` (400) naming what is wrong."""
        records = self.records(body)
        if records is not None:
            matrix = self.fast.matrix(records)
            if matrix is not None:
                return records, matrix
        return self.slow(body)

    def records(self, body: bytes) -> list[dict[str, Any]] | None:
        """The fast path's records (well-formed, no duplicate key), or None: ask ``slow``.
        ``self.fast.matrix`` then checks and encodes them, all at once or a slice at a time.
        First, ``Refused`` for more arrays or objects than any request holds (``Structure``): the
        Python objects that cost (lists and dicts the garbage collector tracks) are not built.
        Not taken, ``Refused`` for an object of more different keys than ``sure_keys``, found in what
        orjson parsed: pydantic would build an error per key before ``too_many_keys`` counts them
        (benchmarks/key_stuffing.py); a look at each object's size costs no second parse. So is one
        key written that many times (``_crowded_by_repeats``), at the cost of a second parse."""
        body = body.removeprefix(codecs.BOM_UTF8)  # RFC 8259 lets a parser ignore it; .NET writes one
        self.structure.check(body, CONTAINERS)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        records, colons = self.fast.records(data), body.count(b":")
        if records is not None and colons == 1 + len(records) * self.width:
            return records
        self.structure.check(body, SEPARATORS)  # as ``slow`` would: its refusal first
        if found := crowded(data, self.sure_keys) or self._crowded_by_repeats(body, data, colons):
            self.too_many_keys(found)
        return None

    def _crowded_by_repeats(self, body: bytes, data: Any, colons: int) -> Crowded | None:
        """An object holding more than ``sure_keys`` keys once each written is counted, which orjson
        kept one of: pydantic would build an error per repeat of an unknown key before ``slow`` counts
        them (one key written 33,000 times: ~80 ms of its validation, then the same count). Read
        with Python's parser (~30 ms) only when the body has that many more colons than orjson's keys
        and the text of the top level and the records hold (counted only past the keys)."""
        if colons - keys_parsed(data) <= self.sure_keys or colons - colons_parsed(data) <= self.sure_keys:
            return None
        return crowded_object(body, self.sure_keys)

    def slow(self, body: bytes) -> tuple[list[dict[str, Any]], np.ndarray]:
        body = body.removeprefix(codecs.BOM_UTF8)
        # Keys and commas too, only here: pydantic's cost is an error per unknown key or value.
        self.structure.check(body, SEPARATORS)
        try:
            records: list[dict[str, Any]] = self.input.validate_json(body)["records"]
        except ValidationError as exc:
            # pydantic read the last "records" only: {"records": [...], "records": []} was "at least
            # 1 item". Checked only then: a full parse of every refused body costs a flood.
            if body.count(b'"records"') > 1:
                self._no_duplicate_keys(body)
            # Counted, not built: see ``too_many_keys``. Here an object holds a key written many times.
            if exc.error_count() > self.max_errors and (found := crowded_object(body, self.max_keys)):
                self.too_many_keys(found)
            refused = self.refusal(exc, body)
            wide = next((name for bom, name in WIDE_BOMS if body.startswith(bom)), None)
            if refused.detail and wide:
                refused.detail[0]["msg"] += f": the body is {wide}: send it as UTF-8"
            raise refused from None
        self._no_duplicate_keys(body)
        return records, self.encoder.matrix(records)

    def too_many_keys(self, found: Crowded) -> None:
        """``Refused`` (400) for the top level or a record holding more keys than ``STRUCTURE_SLACK``
        times a record's (``found``: where and how many): pydantic makes an error per unknown key, and
        building 33,000 (a 293 KB body, one record) for a 400 listing 20 cost 120-700 ms of the event
        loop, a valid 1,000-row body ~20 ms."""
        loc, keys = found
        where = "the body" if loc == ["body"] else f"records[{loc[1]}]"
        message = f'{keys:,} keys in {where} (at most {self.max_keys:,}): a request is {{"records": [...]}}'
        message += f", each record one key per feature ({self.width}; /metadata lists them)"
        issue = {"type": "too_many_keys", "loc": loc, "msg": message}
        error = "more keys in one JSON object than any request holds: not listed one by one"
        raise Refused(400, "too_many_keys", error, [issue], {(str(loc[0]), "too_many_keys")})

    def _no_duplicate_keys(self, body: bytes) -> None:
        """``Refused`` (400) naming the first key that appears twice in one JSON object."""
        try:
            json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates)
        except DuplicateKey as exc:
            key = _cut_key(exc.key)
            field = key if key in self.known_fields else OTHER
            issue = {"type": "duplicate_key", "loc": ["body"], "msg": f"key {key!r} appears more than once"}
            raise Refused(
                400, "duplicate_key", "duplicate key in JSON object", [issue], {(field, "duplicate_key")}
            ) from None
        # Not JSON, not UTF-8, or nested past Python's parser (a second "records" over 1,500 nested
        # objects was a 500): pydantic's refusal says so.
        except (ValueError, RecursionError):
            return

    def refusal(self, exc: ValidationError, body: bytes | None = None) -> Refused:
        # ctx: read by _msg, not shown
        detail = merge_look_alikes(exc.errors(include_url=False, include_input=False))
        labels = set()
        for error in detail:
            names = [part for part in error["loc"] if isinstance(part, str)]
            field = names[-1] if names else "body"
            labels.add(
                (field if field in self.known_fields or field == "body" else OTHER, error["type"][:64])
            )
        # The first invalid record's issues (validation stops there), a few listed: small answers.
        count, shown = len(detail), [self._shown(e) for e in detail[: self.max_details]]
        if body is not None:
            sent_hints(shown, body, self.levels, self.nullable)
        message = f"{count} validation error{'s' if count != 1 else ''} for Input"
        record = next((e["loc"][1] for e in detail if len(e["loc"]) > 1 and e["loc"][0] == "records"), None)
        if record is not None:
            message += f" in records[{record}], the first invalid record (the ones after it are not checked)"
        if count > len(shown):
            message += f" (the first {len(shown)} listed)"
        return Refused(400, "invalid_body", message, shown, labels)

    def _shown(self, error: Mapping[str, Any]) -> dict[str, Any]:
        loc = tuple(_cut_key(part) if isinstance(part, str) else part for part in error["loc"])
        shown = {key: value for key, value in error.items() if key != "ctx"}
        return {**shown, "loc": loc, "msg": self._msg(error)}

    def _msg(self, error: Mapping[str, Any]) -> str:
        field = error["loc"][-1] if error["loc"] else None
        # The records sent bare (a JSON array, or one record as the body): say how to wrap them.
        if (error["type"], tuple(error["loc"])) in {("dict_type", ()), ("missing", ("records",))}:
            return (
                f'{error["msg"]}: send {{"records": [{{feature: value, ...}}, ...]}} (/metadata lists them)'
            )
        if error["type"] == "extra_forbidden" and field in self.not_features:
            what = self.not_features[field]
            return f"{error['msg']}: {field!r} is {what}: send the features only (/metadata lists them)"
        return past_model(error) or _cut(error["msg"])
