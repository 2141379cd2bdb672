"""A key written thousands of times in one object is refused before pydantic (``too_many_keys``),
found by the body's colons outnumbering the keys orjson kept; colons inside strings are no such
object, and those bodies keep pydantic's own refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlapp.schema import FEATURES
from mlapp.serving import request
from mlapp.serving.admission import Refused
from mlapp.serving.request import RequestParser
from tests.serving.test_columns import MAX_DETAILS, MAX_ROWS, NotAsked
from tests.serving.test_records import BASE


@pytest.fixture(scope="module")
def parser(model) -> RequestParser:
    return RequestParser(FEATURES, model.spec, MAX_ROWS, MAX_DETAILS, id_column=None, time_column=None)


def refusal(parser: RequestParser, body: str) -> Refused:
    with pytest.raises(Refused) as refused:
        parser.parse(body.encode())
    return refused.value


def parsed_again(body: bytes, limit: int) -> None:
    raise AssertionError(f"the body was parsed again for an object of over {limit} keys")


def test_a_feature_written_thousands_of_times_is_counted_not_validated(parser, monkeypatch) -> None:
    # orjson keeps the last "age": the record has every feature once, and only the colon count
    # told it from a valid one; pydantic validated all 5,000 before the duplicate was named.
    record = json.dumps(BASE)[:-1] + ', "age": 30' * 5_000 + "}"
    monkeypatch.setattr(parser, "input", NotAsked())
    refused = refusal(parser, '{"records": [' + record + "]}")
    assert (refused.status, refused.labels) == (400, {("records", "too_many_keys")})
    assert refused.detail is not None and len(refused.detail) == 1
    assert refused.detail[0]["loc"] == ["records", 0]
    assert refused.detail[0]["msg"].startswith("5,017 keys in records[0] (at most 34): a request is")


def test_colons_in_strings_are_not_keys(parser, monkeypatch) -> None:
    # 1,000 records each with a text of 5 colons: 5,000 colons past orjson's keys, all in the text
    # orjson read: no second parse, and pydantic's refusal of the values, not too_many_keys.
    records: list[dict[str, Any]] = [{**BASE, "age": "1:2:3:4:5:6"}] * MAX_ROWS
    monkeypatch.setattr(request, "crowded_object", parsed_again)
    refused = refusal(parser, json.dumps({"records": records}))
    assert refused.status == 400
    assert refused.detail is not None
    assert {issue["type"] for issue in refused.detail} != {"too_many_keys"}
    assert refused.detail[0]["loc"] == ("records", 0, "age")


def test_a_few_repeats_are_still_named_as_a_duplicate_key(parser) -> None:
    record = json.dumps(BASE)[:-1] + ', "age": 30' * 3 + "}"
    refused = refusal(parser, '{"records": [' + record + "]}")
    assert refused.labels == {("age", "duplicate_key")}
    assert refused.detail == [
        {"type": "duplicate_key", "loc": ["body"], "msg": "key 'age' appears more than once"}
    ]
