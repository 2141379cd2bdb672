"""What a 400's issues say beyond pydantic's words, from the schema and the body sent.

``request.RequestParser.refusal`` lists pydantic's errors of the first invalid record; pydantic
knows the rule that failed, not why the schema has it or what the client meant to send.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from mlapp.cell_text import nfc
from mlapp.cells import PLACEHOLDER
from mlapp.csv_names import alike
from mlapp.problems import CHECK_WORDS
from mlapp.serving.records import MODEL_LIMITS

# A range error at the model's own limit (records.MODEL_LIMITS, wider than the schema's range or
# in place of an open one), by the limit's size: said as validate says such a value in a table.
PAST_MODEL = {abs(upper[1]): why for _, upper, why in MODEL_LIMITS.values()}
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def past_model(error: Mapping[str, Any]) -> str | None:
    """The message of a range error at the model's limit (its ``ctx`` names the bound); None for
    any other error. pydantic wrote the float32 limit as 340282346638528860000000000000000000000."""
    bound = next(iter((error.get("ctx") or {}).values()), None)
    if error["type"] not in RANGE_ERRORS or not isinstance(bound, int | float):
        return None
    why = PAST_MODEL.get(abs(bound))
    return f"Input is {why}" if why else None


def merge_look_alikes(detail: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """pydantic's errors, with a required key and the unknown one that spells it another way (case,
    spaces around it, Unicode form: ``mlapp.csv_names.alike``, as validate and the scorer name a
    column) as one error on the required key. A key typed "o" + a combining diaeresis got "Field
    required" and "Extra inputs are not permitted" for two keys that look the same."""
    if not any(error["type"] == "missing" for error in detail):  # the usual refusal: nothing to pair
        return list(detail)
    keys: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}  # per object: missing, unknown
    for error in detail:
        if error["type"] in ("missing", "extra_forbidden") and error["loc"]:
            *parent, key = error["loc"]
            keys.setdefault(tuple(parent), ([], []))[error["type"] == "extra_forbidden"].append(key)
    pairs = {
        (*parent, want): (have, how)
        for parent, (missing, unknown) in keys.items()
        for want, have, how in alike(missing, unknown)
    }
    given = {(*loc[:-1], have) for loc, (have, _) in pairs.items()}
    merged: list[Mapping[str, Any]] = []
    for error in detail:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and loc in given:
            continue
        if error["type"] == "missing" and loc in pairs:
            have, how = pairs[loc]
            said = f"{json.dumps(have)} was sent for it ({how}): send the key spelt as in loc"
            error = {**error, "msg": f"{error['msg']}: {said}"}
        merged.append(error)
    return merged


# pydantic's errors for a value of the wrong type; for null, only a feature that allows no missing
# values gives one ("Input should be a valid integer"): said as validate and the batch scorer say it.
TYPE_ERRORS = frozenset({"int_type", "float_type", "bool_type", "string_type", "literal_error"})
NULL_SENT = f": {CHECK_WORDS['not_nullable']} (null was sent: this feature is not nullable)"
ABSENT = object()  # no value at an error's loc (a union member's tag, say), unlike a null
# A table's yes/no, 1/0 and quoted numbers are what a client copying from the file sends; JSON types
# are strict (tests/serving/test_records.py), so the 400 says what to send instead.
BOOL_SENT = ": send true or false (JSON booleans; the file's yes/no and 1/0 are read as them)"
NUMBER_SENT = ": send the number unquoted (JSON types are strict)"
WHOLE = re.compile(r"\s*[+-]?\d+\s*")
# A file's placeholder for a missing value (UCI's "?"): validate reads it as missing once
# data.missing_values lists it; JSON's missing value is null.
PLACEHOLDER_SENT = ": text without a letter or digit is no level; a missing value is null in JSON"


def _quoted_number(sent: Any, kind: str) -> bool:
    """``sent`` is a string holding a number of the error's kind (int_type: a whole one)."""
    if not isinstance(sent, str) or kind not in ("int_type", "float_type"):
        return False
    if kind == "int_type":
        return WHOLE.fullmatch(sent) is not None
    try:
        return math.isfinite(float(sent))
    except ValueError:
        return False


def sent_hints(
    shown: list[dict[str, Any]], body: bytes, levels: Mapping[str, frozenset[str]], nullable: frozenset[str]
) -> None:
    """What the sent values of the listed type errors call for: a null where the feature allows none
    is validate's "no missing values"; 2 for a category coded 1, 2, 3 in the file (``levels``: each
    category's), to send "2" (JSON types are strict); " Private" for the level "Private" (a CSV
    written with ", " between fields, which validate reads past), "Private"; "?" for a category
    that may be missing (``nullable``), null; "yes" or 1 for a boolean, true or
    false; "40" for a number, 40. The sent value is looked up in the body
    for the listed issues only: asking pydantic for every issue's input cost about a quarter more per
    1,000-row refusal."""
    wanted = [e for e in shown if e["type"] in TYPE_ERRORS and e["loc"]]
    if not wanted:
        return
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:  # pydantic's parser took it (NaN tokens): no hint, no harm
        return
    for error in wanted:
        name = str(error["loc"][-1])
        sent, known = _at(data, error["loc"]), levels.get(name, frozenset())
        if sent is None:
            error["msg"] += NULL_SENT
        elif error["type"] == "literal_error" and type(sent) is int and str(sent) in known:
            error["msg"] += f": category levels are text, send {str(sent)!r}"
        elif error["type"] == "literal_error" and isinstance(sent, str):
            error["msg"] += _level_hint(sent, known, name in nullable)
        elif error["type"] == "bool_type" and isinstance(sent, str | int | float):
            error["msg"] += BOOL_SENT
        elif _quoted_number(sent, error["type"]):
            error["msg"] += NUMBER_SENT


def _level_hint(sent: str, levels: frozenset[str], nullable: bool) -> str:
    """Words for text that is no level of its category: one spelt with spaces around it, a
    placeholder where the feature may be missing; none for another wrong level."""
    text = nfc(sent.strip())
    # Spaces on either side: " Private" for "Private" (a table's cells are read without them, the
    # schema's levels have none); JSON text is taken as sent.
    if text in levels:
        return f": spaces around the level: send {text!r}"
    if nullable and re.fullmatch(PLACEHOLDER, text):
        return PLACEHOLDER_SENT
    return ""


def _at(data: Any, loc: Sequence[str | int]) -> Any:
    """The value at a pydantic error's ``loc`` in the parsed body (``ABSENT`` if the path is not there)."""
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return data
