"""A ``/predict`` body holding more values than any request does, refused without pydantic's
cost per value.

Before either parser, ``Structure`` counts the body's JSON punctuation: the body cap bounds
bytes, not values, and a parser's cost is per value. 1 MB of empty arrays (``[[],[],...]``,
341,000 lists) cost a worker 0.8-1.1 s of its event loop, most of it garbage collections
triggered by the lists both parsers built, and 100,000 unknown keys 0.7 s of pydantic
errors, against ~2 ms for a valid 1,000-row body: 32 clients sending the arrays made other
requests wait 35 s and time out (504). A body with more arrays, objects, keys or commas than
``STRUCTURE_SLACK`` times the largest valid request holds is a 400 before anything is parsed.

Within those counts one object can still hold tens of thousands of keys (every key of a
1,000-record request in one record), and pydantic builds an error per unknown key. ``crowded``
finds such an object in the body orjson parsed for the fast path, before pydantic sees it;
``crowded_object`` finds one holding a key written many times (orjson keeps the last), with
Python's parser, once the body's colons (``keys_parsed``) or pydantic's error count say it is there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from mlapp.serving.admission import Refused
from mlapp.serving.records import Rule

# JSON punctuation counted in the raw body, each opening or separating one kind of value.
PUNCTUATION = ((b"[", "arrays"), (b"{", "objects"), (b":", "keys"), (b",", "commas"))
CONTAINERS, SEPARATORS = b"[{", b":,"
# Twice the largest valid request: a near miss (1,001 rows) still reaches the parsers, which
# name the field and rule (``too_long``); the cost of what passes stays that of a valid body.
STRUCTURE_SLACK = 2
Crowded = tuple[list[str | int], int]  # where (``["body"]`` or ``["records", i]``), how many keys


class Structure:
    """The most of each JSON punctuation mark a body may hold: ``STRUCTURE_SLACK`` times what a
    valid request has, ``{"records": [...]}`` with ``max_rows`` records of every feature.

    Outside strings a valid body has one array, one object per record and its own, one key per
    feature per record and ``records``, and commas between records and between fields. Inside
    strings, only feature names and category levels, which may hold the same marks: counted
    from the schema (an escape such as ``\\u005b`` writes none; UTF-8 never writes an ASCII byte
    for another character).
    """

    def __init__(self, rules: Mapping[str, Rule], max_rows: int) -> None:
        self.max_rows = max_rows
        self.width = width = len(rules)
        outside = {b"[": 1, b"{": 1 + max_rows, b":": 1 + max_rows * width, b",": max_rows * width - 1}
        self.limits = {
            mark: STRUCTURE_SLACK * (count + max_rows * self._in_strings(mark, rules))
            for mark, count in outside.items()
        }

    @staticmethod
    def _in_strings(mark: bytes, rules: Mapping[str, Rule]) -> int:
        """The most times ``mark`` appears in the strings of one record: its keys and its levels."""
        names = sum(name.encode().count(mark) for name in rules)
        levels = sum(
            max(str(level).encode().count(mark) for level in rule.allowed)
            for rule in rules.values()
            if rule.allowed
        )
        return names + levels

    def check(self, body: bytes, marks: bytes) -> None:
        """``Refused`` (400) for a body that holds more values than any request can, counting ``marks``."""
        over = [
            f"{count:,} {what} (at most {self.limits[mark]:,})"
            for mark, what in PUNCTUATION
            if mark in marks and (count := body.count(mark)) > self.limits[mark]
        ]
        if over:
            message = (
                f'{", ".join(over)}: a request is {{"records": [...]}} with at most serving.max_rows '
                f"({self.max_rows}) records of {self.width} features, each a number, text, true/false or null"
            )
            issue = {"type": "too_many_values", "loc": ["body"], "msg": message}
            raise Refused(
                400, "too_many_values", "more JSON values than any request holds: not parsed", [issue]
            )


def crowded(data: Any, limit: int) -> Crowded | None:
    """The top level or the first record of an already parsed body holding more than ``limit``
    different keys, and how many; None for none. A key written twice is one here (the parser
    kept the last): ``crowded_object`` counts those."""
    return _first_crowded(data, len, limit)


def crowded_object(body: bytes, limit: int) -> Crowded | None:
    """As ``crowded``, duplicates counted as pydantic counts them; None for none, or for a body
    Python's parser does not read (pydantic's refusal says why)."""
    counts: dict[int, int] = {}

    def count(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        read = dict(pairs)
        counts[id(read)] = len(pairs)  # every object stays alive in ``data``: ids are not reused
        return read

    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=count)
    except (ValueError, RecursionError):
        return None
    return _first_crowded(data, lambda read: counts[id(read)], limit)


def keys_parsed(data: Any) -> int:
    """The keys of the top level and of its records in an already parsed body, a key written twice
    counted once: far fewer than the body's colons, keys were written again, or strings hold them."""
    return sum(len(value) for _, value in _objects(data))


def colons_parsed(data: Any) -> int:
    """As ``keys_parsed``, plus the colons inside those keys and their text values: what is left of
    the body's colons is repeated keys, or objects nested in a record."""
    inside = sum(_colons(key) + _colons(value) for _, read in _objects(data) for key, value in read.items())
    return keys_parsed(data) + inside


def _colons(value: Any) -> int:
    return value.count(":") if type(value) is str else 0


def _first_crowded(data: Any, keys: Callable[[dict[str, Any]], int], limit: int) -> Crowded | None:
    return next(((loc, count) for loc, value in _objects(data) if (count := keys(value)) > limit), None)


def _objects(data: Any) -> list[tuple[list[str | int], dict[str, Any]]]:
    """The top level and its records that are JSON objects, each with where it is."""
    if not isinstance(data, dict):
        return []
    records = data.get("records")
    places: list[tuple[list[str | int], Any]] = [(["body"], data)]
    if isinstance(records, list):
        places += [(["records", i], record) for i, record in enumerate(records)]
    return [(loc, value) for loc, value in places if isinstance(value, dict)]
