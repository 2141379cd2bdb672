"""The columnar fast path decides like the pydantic request model and encodes like ``Encoder``.

The fast path may hand a valid body to the slow path (that only costs time), but it must
never accept what the pydantic model rejects: checked value by value on every rule of
every column, on random records, and on whole bodies (extra/duplicate keys, shapes).
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any, Literal

import numpy as np
import orjson
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter, ValidationError

from mlapp.cells import FLOAT32_MAX
from mlapp.model import ModelSpec
from mlapp.schema import FEATURES
from mlapp.serving.admission import Refused
from mlapp.serving.records import Encoder, field_rule
from mlapp.serving.request import RequestParser
from tests.serving.test_records import BASE, CASES
from tests.serving.test_records import records as random_records

MAX_ROWS, MAX_DETAILS = 1000, 20


@pytest.fixture(scope="module")
def parser(model) -> RequestParser:
    return RequestParser(FEATURES, model.spec, MAX_ROWS, MAX_DETAILS, id_column=None, time_column=None)


def fast(parser: RequestParser, body: bytes) -> np.ndarray | None:
    """The fast path's verdict alone: a matrix, or None (the slow path decides)."""
    rows = parser.records(body)
    return None if rows is None else parser.fast.matrix(rows)


def pydantic_accepts(parser: RequestParser, body: bytes) -> bool:
    try:
        parser.input.validate_json(body)
    except ValidationError:
        return False
    return True


def check(parser: RequestParser, body: bytes) -> None:
    matrix = fast(parser, body)
    accepted = pydantic_accepts(parser, body)
    if matrix is not None:
        assert accepted, f"fast path accepted what pydantic rejects: {body[:300]!r}"
        rows = orjson.loads(body)["records"]
        np.testing.assert_array_equal(matrix, parser.encoder.matrix(rows))


@pytest.mark.parametrize(("name", "value"), CASES)
def test_every_rule_of_every_column(parser, name, value) -> None:
    record = {**BASE, name: value}
    body = json.dumps({"records": [BASE, record]}, allow_nan=True).encode()
    check(parser, body)
    if pydantic_accepts(parser, body):  # valid values take the fast path (the point of it)
        assert fast(parser, body) is not None, record


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_records())
def test_random_records(parser, record: dict[str, Any]) -> None:
    check(parser, json.dumps({"records": [record, BASE]}, allow_nan=True).encode())


@pytest.mark.parametrize(
    "text",
    [
        '{"records": [R], "extra": 1}',
        '{"records": [R], "records": [R]}',
        '{"records": [D]}',
        '{"records": []}',
        '{"records": R}',
        "[R]",
        '{"records": [R, 1]}',
        '{"records": [{"contract": "a:b", ' + '"x": 1, ' * 15 + '"y": 2}]}',
    ],
)
def test_body_shapes(parser, text) -> None:
    record = json.dumps(BASE)
    body = text.replace("R", record).replace("D", record[:-1] + ', "age": 30}').encode()
    check(parser, body)
    with pytest.raises(Refused) as refused:
        parser.parse(body)
    assert refused.value.status == 400


@pytest.mark.parametrize("second", ["[]", "[1]", '[{"age": 30}]'])
def test_a_second_records_key_is_named_not_the_one_it_hides(parser, second) -> None:
    """pydantic reads the last ``records`` only: a body with a valid one and an invalid one was
    "List should have at least 1 item" (or an issue of the second) instead of the duplicate key."""
    body = ('{"records": [' + json.dumps(BASE) + '], "records": ' + second + "}").encode()
    with pytest.raises(Refused) as refused:
        parser.parse(body)
    assert refused.value.labels == {("records", "duplicate_key")}
    assert refused.value.detail == [
        {"type": "duplicate_key", "loc": ["body"], "msg": "key 'records' appears more than once"}
    ]


def test_a_second_records_key_nested_past_pythons_parser_is_pydantics_400(parser) -> None:
    """The duplicate check reads the body with Python's parser, which stops at ~1,000 levels
    (RecursionError): 1,500 nested objects, within the objects a request may hold, were a 500."""
    nested = b'{"a": ' * 1_500 + b"1" + b"}" * 1_500
    with pytest.raises(Refused) as refused:
        parser.parse(b'{"records": [], "records": ' + nested + b"}")
    assert refused.value.status == 400
    assert [issue["type"] for issue in refused.value.detail] == ["json_invalid"]
    assert "recursion limit exceeded" in refused.value.detail[0]["msg"]


def crowded_body(where: str) -> bytes:
    """A body of one object holding 5,000 keys beside a record's: in a record, at the top level, or
    one key written 5,000 times."""
    record, made_up = json.dumps(BASE), ", ".join(f'"{i:x}": 0' for i in range(5_000))
    twice = ", ".join(['"k": 0'] * 5_000)
    return {
        "record": f'{{"records": [{record}, {record[:-1]}, {made_up}}}]}}',
        "top level": f'{{"records": [{record}], {made_up}}}',
        "duplicates": f'{{"records": [{record[:-1]}, {twice}}}]}}',
    }[where].encode()


@pytest.mark.parametrize(
    ("where", "loc", "keys"),
    [
        ("record", ["records", 1], 5_017),
        ("top level", ["body"], 5_001),
        ("duplicates", ["records", 0], 5_017),
    ],
)
def test_an_object_of_thousands_of_keys_is_named_with_its_count(parser, where, loc, keys) -> None:
    """pydantic builds an error per unknown key (a key written twice: two): 33,000 in one record, a
    293 KB body, cost 120-700 ms of the event loop for a 400 listing 20. Where, and how many keys,
    instead; a few unknown keys are still pydantic's issues (test_a_made_up_key...)."""
    with pytest.raises(Refused) as refused:
        parser.parse(crowded_body(where))
    assert refused.value.labels == {(str(loc[0]), "too_many_keys")}
    assert refused.value.detail is not None and len(refused.value.detail) == 1
    issue = refused.value.detail[0]
    assert (issue["type"], issue["loc"]) == ("too_many_keys", loc)
    assert issue["msg"].startswith(f"{keys:,} keys in ") and "one key per feature (17" in issue["msg"]


class NotAsked:
    """In place of the pydantic model: a refusal that reaches it fails the test."""

    def validate_json(self, body: bytes) -> Any:
        raise AssertionError(f"pydantic was asked to validate {body[:80]!r}...")


@pytest.mark.parametrize("where", ["record", "top level", "duplicates"])
def test_an_object_of_thousands_of_keys_never_reaches_pydantic(parser, monkeypatch, where) -> None:
    """Found in what orjson parsed for the fast path: pydantic's validation of it (an error built
    per key, before they are counted) is not run. A key written many times is one to orjson: the
    body's colons, thousands more than orjson's keys, say so, and Python's parser counts them."""
    monkeypatch.setattr(parser, "input", NotAsked())
    with pytest.raises(Refused) as refused:
        parser.parse(crowded_body(where))
    assert refused.value.detail is not None and refused.value.detail[0]["type"] == "too_many_keys"


def test_oversized_request_is_not_fast(parser) -> None:
    body = json.dumps({"records": [BASE] * (MAX_ROWS + 1)}).encode()
    assert fast(parser, body) is None
    with pytest.raises(Refused):
        parser.parse(body)


def test_parse_gives_the_encoders_matrix(parser, model, records) -> None:
    rows, matrix = parser.parse(json.dumps({"records": records}).encode())
    assert rows == records
    np.testing.assert_array_equal(matrix, Encoder(model.spec).matrix(records))


def test_a_long_message_is_cut_and_points_at_metadata(parser) -> None:
    """pydantic names every level of a category in its message (thousands of characters for a
    category of hundreds of levels): the 400 cuts it and says where the levels are."""
    levels = tuple(f"level-{i:03d}" for i in range(300))
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Literal[levels]).validate_python("nope")  # type: ignore[valid-type]
    assert len(caught.value.errors()[0]["msg"]) > 3000
    refused = parser.refusal(caught.value)
    assert refused.detail is not None
    msg = refused.detail[0]["msg"]
    assert msg.startswith("Input should be 'level-000', 'level-001'")
    assert msg.endswith("… (the allowed values: /metadata)") and len(msg) < 300


def test_the_id_time_or_label_column_in_a_record_is_named_as_such(model) -> None:
    """A client sends whole rows of the training table, id, event time, group, label and ignored
    columns included: the 400 says which column they are and that the service takes the features only
    (the event time, and then the group, got a bare "Extra inputs are not permitted")."""
    parser = RequestParser(
        FEATURES,
        model.spec,
        MAX_ROWS,
        MAX_DETAILS,
        id_column="customer_id",
        time_column="event_time",
        group_column="household",
        ignore_columns=["email"],
    )
    row = {
        **BASE,
        "customer_id": "C1",
        "event_time": "2024-01-01T00:26:53",
        "churned": 1,
        "household": "H7",
        "email": "a@example.com",
        "note": "x",
    }
    body = json.dumps({"records": [row]}).encode()
    with pytest.raises(Refused) as refused:
        parser.parse(body)
    detail = refused.value.detail
    assert detail is not None
    assert {tuple(d["loc"]): d["msg"] for d in detail} == {
        ("records", 0, "customer_id"): "Extra inputs are not permitted: 'customer_id' is the id column "
        "(data.id_column): send the features only (/metadata lists them)",
        ("records", 0, "event_time"): "Extra inputs are not permitted: 'event_time' is the event-time "
        "column (data.time_column): send the features only (/metadata lists them)",
        ("records", 0, "churned"): "Extra inputs are not permitted: 'churned' is the label, what the "
        "model predicts: send the features only (/metadata lists them)",
        ("records", 0, "household"): "Extra inputs are not permitted: 'household' is the group column "
        "(data.group_column), not a model input: send the features only (/metadata lists them)",
        ("records", 0, "email"): "Extra inputs are not permitted: 'email' is in data.ignore_columns, "
        "not a model input: send the features only (/metadata lists them)",
        ("records", 0, "note"): "Extra inputs are not permitted",
    }


@pytest.mark.parametrize("body", [[BASE, BASE], BASE], ids=["a bare list", "one bare record"])
def test_records_sent_without_their_wrapper_are_told_how_to_wrap_them(parser, body) -> None:
    """A JSON array of records was answered "Input should be an object", and one record as the
    body with "Field required" plus an "Extra inputs" line per feature: neither named the key."""
    with pytest.raises(Refused) as refused:
        parser.parse(json.dumps(body).encode())
    detail = refused.value.detail
    assert detail is not None
    wrapped = [d["msg"] for d in detail if "records" in d["msg"]]
    assert wrapped and all(
        msg.endswith(': send {"records": [{feature: value, ...}, ...]} (/metadata lists them)')
        for msg in wrapped
    ), detail


def refused_for(parser: RequestParser, name: str, sent: object) -> list[str]:
    """What a 400 says of feature ``name`` when one record sends ``sent`` for it."""
    with pytest.raises(Refused) as refused:
        parser.parse(orjson.dumps({"records": [{**BASE, name: sent}]}))
    assert refused.value.detail is not None
    return [d["msg"] for d in refused.value.detail if d["loc"][2] == name]


def test_a_null_where_none_is_allowed_is_said_as_validate_says_it(parser: RequestParser) -> None:
    """A blank whole number was "Input should be a valid integer" in a 400, "no missing values" in
    validate's report and the batch scorer's rejects: the 400 names that rule too. A wrong value
    that is not null (a string; a null in a nullable feature is valid) gets no such words."""
    for name, sent, said in (
        ("num_products", None, "Input should be a valid integer: no missing values (null was sent: "
         "this feature is not nullable)"),
        ("contract", None, "Input should be 'month-to-month', 'one-year' or 'two-year': no missing values "
         "(null was sent: this feature is not nullable)"),
        ("num_products", "three", "Input should be a valid integer"),
        ("total_charges", "3,5", "Input should be a valid number"),
    ):  # fmt: skip
        assert refused_for(parser, name, sent) == [said], sent


def test_a_tables_yes_no_and_quoted_numbers_are_told_what_json_to_send(parser: RequestParser) -> None:
    """A client copying a row from the CSV sends "yes" or 1 for a yes/no column and "40" for a
    number: pydantic said "Input should be a valid boolean" (or integer), not what to send. A
    string that is no number of the kind, and a category's wrong level, get no such words."""
    bools = ": send true or false (JSON booleans; the file's yes/no and 1/0 are read as them)"
    quoted = ": send the number unquoted (JSON types are strict)"
    for name, sent, said in (
        ("paperless_billing", "yes", "Input should be a valid boolean" + bools),
        ("paperless_billing", 1, "Input should be a valid boolean" + bools),
        ("age", "40", "Input should be a valid integer" + quoted),
        ("age", " 40 ", "Input should be a valid integer" + quoted),
        ("age", "40.5", "Input should be a valid integer"),
        ("monthly_charges", "80.5", "Input should be a valid number" + quoted),
        ("monthly_charges", "NaN", "Input should be a valid number"),
        ("contract", "2", "Input should be 'month-to-month', 'one-year' or 'two-year'"),
    ):  # fmt: skip
        assert refused_for(parser, name, sent) == [said], sent


def test_a_level_sent_as_a_uci_file_spells_it_is_told_what_to_send(parser: RequestParser) -> None:
    """UCI's adult table writes ", " between fields and "?" for a missing value: validate reads
    " Private" as "Private" (and "?" as missing once data.missing_values lists it), but a client
    sending the file's cells was answered "Input should be ..." with the level it meant among them."""
    contract = "Input should be 'month-to-month', 'one-year' or 'two-year'"
    payment = "Input should be 'electronic-check', 'mailed-check', 'bank-transfer' or 'credit-card'"
    for name, sent, said in (
        ("contract", " one-year", contract + ": spaces around the level: send 'one-year'"),
        ("contract", "one-year\t", contract + ": spaces around the level: send 'one-year'"),
        ("payment_method", "?", payment + ": text without a letter or digit is no level; a missing "
         "value is null in JSON"),
        ("contract", "?", contract),  # not nullable: null would be refused too
        ("contract", " One-year", contract),
    ):  # fmt: skip
        assert refused_for(parser, name, sent) == [said], sent


def test_a_category_coded_as_a_number_sent_as_a_number_is_told_to_send_text() -> None:
    """Levels are the file's text: pclass 1, 2, 3 in the CSV are "1", "2", "3". A client sending
    2 was answered "Input should be '1', '2' or '3'", naming the very value it had sent."""
    from mlapp.model import ModelSpec
    from mlapp.schema import _category

    spec = ModelSpec(["pclass"], {"pclass": ["1", "2", "3"]}, "survived", 0.5, 0)
    parser = RequestParser(
        {"pclass": _category([1, 2, 3])}, spec, MAX_ROWS, MAX_DETAILS, id_column=None, time_column=None
    )
    hint = ": category levels are text, send '2'"
    for sent, told in (("2", hint), ("4", ""), ("2.0", "")):  # validation stops at the first bad record
        with pytest.raises(Refused) as refused:
            parser.parse(b'{"records": [{"pclass": %s}]}' % sent.encode())
        detail = refused.value.detail
        assert detail is not None
        assert [(list(d["loc"]), d["msg"]) for d in detail] == [
            (["records", 0, "pclass"], "Input should be '1', '2' or '3'" + told)
        ]
        assert all("input" not in d for d in detail)  # what was sent is not echoed back
    _, matrix = parser.parse(b'{"records": [{"pclass": "2"}]}')
    assert matrix.tolist() == [[1.0]]


def test_a_utf8_byte_order_mark_is_read_past_and_utf16_and_utf32_are_named(parser, model) -> None:
    """Editors and .NET clients write a BOM before the JSON (RFC 8259 lets a parser ignore it):
    the records are predicted as without it (a CSV's BOM is read past too). A UTF-16 body was
    "expected value at line 1 column 1": the 400 now says to send UTF-8."""
    body = json.dumps({"records": [BASE]})
    rows, matrix = parser.parse(b"\xef\xbb\xbf" + body.encode())
    assert rows == [BASE]
    np.testing.assert_array_equal(matrix, Encoder(model.spec).matrix([BASE]))
    with pytest.raises(Refused) as refused:
        parser.parse(body.encode("utf-16"))
    detail = refused.value.detail
    assert detail is not None and detail[0]["msg"].endswith("the body is UTF-16: send it as UTF-8")
    # UTF-32's little-endian mark begins with UTF-16's: it was told "UTF-16", big-endian nothing.
    for wide in (
        codecs.BOM_UTF32_LE + body.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + body.encode("utf-32-be"),
    ):
        with pytest.raises(Refused) as refused:
            parser.parse(wide)
        detail = refused.value.detail
        assert detail is not None and detail[0]["msg"].endswith("the body is UTF-32: send it as UTF-8"), wide[
            :4
        ]


def test_a_made_up_key_is_named_in_a_few_characters_not_echoed_whole(parser) -> None:
    """A 1 MB unknown key made a 1 MB 400: pydantic's ``loc`` names the key, and 20 such keys (the
    issues a 400 lists) were as much as the body cap. Keys are named up to KEY_CHARS."""
    from mlapp.serving.request import KEY_CHARS

    long_keys = {f"{i}" + "k" * 100_000: 0 for i in range(25)}
    for body in (
        json.dumps({"records": [{**BASE, **long_keys}]}),
        json.dumps({"records": [BASE], **long_keys}),  # at the top level too
    ):
        with pytest.raises(Refused) as refused:
            parser.parse(body.encode())
        detail = refused.value.detail
        assert detail is not None and {d["type"] for d in detail} == {"extra_forbidden"}
        assert all(len(part) <= KEY_CHARS + 1 for d in detail for part in d["loc"] if isinstance(part, str))
        assert len(json.dumps(detail)) < 10_000
    duplicate = json.dumps({"records": [BASE]})[:-1] + ', "%s": 1, "%s": 2}' % (("d" * 100_000,) * 2)
    with pytest.raises(Refused) as refused:
        parser.parse(duplicate.encode())
    assert refused.value.detail is not None and len(refused.value.detail[0]["msg"]) < 200


LARGEST = "Input is beyond 3.4e+38, the largest number the model takes (XGBoost's float32)"
PAST_INT64 = "Input is past int64, 9.2e18: a code or an identifier, not a quantity"


@pytest.mark.parametrize(
    ("kind", "sent", "rule", "said"),
    [
        (float, "1e300", "less_than_equal", LARGEST),
        (float, "-1e300", "greater_than_equal", LARGEST),
        (int, "100000000000000000000", "less_than", PAST_INT64),
        (int, "1e300", "less_than", PAST_INT64),  # a whole number written as a float
    ],
)
def test_a_number_past_what_the_model_takes_is_refused_where_the_range_is_open(
    kind: type, sent: str, rule: str, said: str
) -> None:
    """validate and the batch scorer refuse 1e300 (inf in XGBoost's float32) and a whole number past
    int64; the service took them where the schema's range is open, and predicted on inf."""
    spec = ModelSpec(["x"], {}, "y", 0.5, 0)
    # An open range: inf, or no check at all (an integer column could not be served with inf bounds).
    checks = [pa.Check.in_range(-math.inf, math.inf)] if kind is float else []
    column = pa.Column(kind, checks, nullable=True)
    parser = RequestParser({"x": column}, spec, MAX_ROWS, MAX_DETAILS, id_column=None, time_column=None)
    with pytest.raises(Refused) as refused:
        parser.parse(b'{"records": [{"x": %s}]}' % sent.encode())
    assert (refused.value.status, refused.value.detail) == (
        400,
        [{"type": rule, "loc": ("records", 0, "x"), "msg": said}],
    )
    assert refused.value.labels == {("x", rule)}
    largest = b"3.4028234663852886e+38" if kind is float else b"9223372036854775807"
    for body in (b'{"records": [{"x": %s}]}' % largest, b'{"records": [{"x": -%s}]}' % largest):
        assert fast(parser, body) is not None  # the largest the model takes, on the fast path too
        assert np.isfinite(parser.parse(body)[1]).all()


def test_the_model_s_limits_narrow_only_what_the_schema_leaves_wider() -> None:
    def bounds(column: pa.Column) -> dict[str, Any]:
        return field_rule("x", column).bounds

    assert bounds(FEATURES["age"]) == {"ge": 18, "le": 110}  # the reference schema's ranges as they are
    assert bounds(pa.Column(float, pa.Check.in_range(0, math.inf))) == {"ge": 0, "le": FLOAT32_MAX}
    assert bounds(pa.Column(float, pa.Check.less_than(FLOAT32_MAX))) == {
        "lt": FLOAT32_MAX,
        "ge": -FLOAT32_MAX,
    }
    assert bounds(pa.Column(int)) == {"gt": -(2**63), "lt": 2**63}
    assert bounds(pa.Column(int, pa.Check.in_range(-math.inf, math.inf))) == {"gt": -(2**63), "lt": 2**63}
    assert bounds(pa.Column(int, pa.Check.in_range(-(2**70), 2**63))) == {"gt": -(2**63), "lt": 2**63}


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (
            "gro\u0308\u00dfe",
            '"gro\\u0308\\u00dfe" was sent for it (another Unicode form)',
        ),  # NFD, as macOS types it
        ("Größe", '"Gr\\u00f6\\u00dfe" was sent for it (case differs)'),
    ],
)
def test_a_key_that_looks_like_a_feature_is_one_error_naming_it(sent: str, said: str) -> None:
    """A key in another Unicode form got two errors, "Field required" for the feature and "Extra
    inputs are not permitted" for a key that looks the same; validate and the scorer name such a
    column as a look-alike (mlapp.csv_names.alike)."""
    name = "größe"  # NFC, as FEATURES writes it
    spec = ModelSpec([name, "age"], {}, "y", 0.5, 0)
    features = {name: pa.Column(float), "age": pa.Column(int)}
    parser = RequestParser(features, spec, MAX_ROWS, MAX_DETAILS, id_column=None, time_column=None)
    body = json.dumps({"records": [{"age": 40, sent: 1.5, "note": "x"}]})
    with pytest.raises(Refused) as refused:
        parser.parse(body.encode())
    assert refused.value.message.startswith("2 validation errors for Input in records[0]")
    assert refused.value.detail == [
        {
            "type": "missing",
            "loc": ("records", 0, name),
            "msg": f"Field required: {said}: send the key spelt as in loc",
        },
        {"type": "extra_forbidden", "loc": ("records", 0, "note"), "msg": "Extra inputs are not permitted"},
    ]
    assert refused.value.labels == {(name, "missing"), ("<other>", "extra_forbidden")}
