"""``structure.Structure``: a body with more JSON values than any request holds is refused before parsing.

The limits come from the schema: one array, one object per record and the body, a key per
feature per record, the commas between, plus what feature names and category levels hold
inside strings; twice that is the limit, so a near miss still gets the parsers' own answer.
"""

from __future__ import annotations

import json

import orjson
import pytest

from mlapp.schema import FEATURES
from mlapp.serving import request
from mlapp.serving.admission import Refused
from mlapp.serving.records import Rule
from mlapp.serving.request import RequestParser
from mlapp.serving.structure import STRUCTURE_SLACK, Structure

# Punctuation in a feature name and a category level: a valid body holds it inside strings.
RULES = {
    "f[{": Rule(str, {}, ("a[{:,", "b"), nullable=False),
    "g": Rule(float, {"ge": 0}, None, nullable=True),
}
MAX_ROWS = 3
ALL = b"[{:,"


@pytest.fixture
def parser(model) -> RequestParser:
    return RequestParser(FEATURES, model.spec, 1000, 20, id_column=None, time_column=None)


def body(rows: int, level: str = "a[{:,") -> bytes:
    return json.dumps({"records": [{"f[{": level, "g": None}] * rows}, indent=2).encode()


def test_the_largest_valid_body_passes_with_punctuation_inside_its_strings() -> None:
    structure = Structure(RULES, MAX_ROWS)
    structure.check(body(MAX_ROWS), ALL)  # no Refused
    structure.check(body(MAX_ROWS + 1), ALL)  # a near miss: the parsers name it (too_long)


@pytest.mark.parametrize(
    ("mark", "what"), [(b"[", "arrays"), (b"{", "objects"), (b":", "keys"), (b",", "commas")]
)
def test_one_mark_over_twice_the_largest_valid_body_is_refused_naming_it(mark, what) -> None:
    structure = Structure(RULES, MAX_ROWS)
    valid = body(MAX_ROWS).count(mark)
    assert structure.limits[mark] == STRUCTURE_SLACK * valid
    extra = b" " + b'"' + mark * (structure.limits[mark] - valid + 1) + b'"'  # in a string: still counted
    over = body(MAX_ROWS)[:-1] + extra + b"}"
    with pytest.raises(Refused) as refused:
        structure.check(over, ALL)
    assert refused.value.status == 400
    assert refused.value.labels == {("body", "too_many_values")}
    [issue] = refused.value.detail or []
    assert issue["type"] == "too_many_values"
    assert f"{structure.limits[mark] + 1:,} {what} (at most {structure.limits[mark]:,})" in issue["msg"]
    assert f"serving.max_rows ({MAX_ROWS})" in issue["msg"]


def test_empty_arrays_filling_the_body_are_refused_before_any_parser(parser, monkeypatch) -> None:
    """1 MB of ``[]`` cost a worker about a second of garbage collections inside the parsers."""

    def not_called(*_args: object) -> None:
        raise AssertionError("a parser ran")

    monkeypatch.setattr(request.orjson, "loads", not_called)
    monkeypatch.setattr(parser.input, "validate_json", not_called)
    hostile = b'{"records": [' + b",".join([b"[]"] * 300_000) + b"]}"
    with pytest.raises(Refused) as refused:
        parser.parse(hostile)
    assert "300,001 arrays" in refused.value.detail[0]["msg"]


def test_keys_and_commas_are_counted_before_pydantic_builds_an_error_each(parser, monkeypatch) -> None:
    """100,000 unknown keys made pydantic build 100,000 errors (0.7 s); orjson's dict of them is cheap."""
    monkeypatch.setattr(parser.input, "validate_json", lambda *_: pytest.fail("pydantic ran"))
    keys = b",".join(b'"k%d": 0' % i for i in range(100_000))
    for hostile in (
        b'{"records": [{' + keys + b"}]}",
        b'{"records": [' + b",".join([b"1"] * 100_000) + b"]}",
    ):
        with pytest.raises(Refused) as refused:
            parser.parse(hostile)
        assert refused.value.detail[0]["type"] == "too_many_values"
    assert orjson.loads(b'{"records": [{' + keys + b"}]}")  # well-formed JSON: refused for its size alone
