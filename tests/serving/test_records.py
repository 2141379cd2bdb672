"""The request model is the training schema: same accept/reject decisions as pandera.

``feature_schema()`` validates tables (with ``coerce=True``); the service validates JSON.
The claim tested here, value by value and on random records:

    the API accepts a record  <=>  every value has its column's JSON type (null only where
    the column is nullable, NaN/inf never)  and  pandera's ``feature_schema()`` accepts
    the one-row table.

The JSON-type rule is deliberately stricter than pandera's coercion ("5" is not 5, 5.5 is not
5, and a null bool is not False); a whole number written 5.0 is the integer 5, as JSON Schema's
"integer" reads it (and as validate read "5.0" in the training table).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from mlapp.schema import FEATURES, categories, feature_schema
from mlapp.serving.records import Encoder, SchemaNotServable, check_compatible, record_type
from mlapp.serving.smoke import schema_records

SCHEMA = feature_schema()
RECORD = TypeAdapter(record_type(FEATURES))
BASE: dict[str, Any] = schema_records(FEATURES)[3]  # midpoints, null where nullable


def json_kind_ok(column: pa.Column, value: Any) -> bool:
    """The JSON type a column takes, written independently of the code under test."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if value is None:
        # The declared rule. (pandera's coercion turns a null bool into False before its own
        # null check, so it accepts null in the non-nullable `paperless_billing`; we don't.)
        return bool(column.nullable)
    dtype = str(column.dtype)
    if dtype.startswith("int"):
        return type(value) is int or (type(value) is float and value.is_integer())
    if dtype.startswith("float"):
        return type(value) in (int, float)
    if dtype == "bool":
        return type(value) is bool
    return type(value) is str


def pandera_accepts(record: dict[str, Any]) -> bool:
    try:
        SCHEMA.validate(pd.DataFrame([record]))
    except (pa_errors.SchemaError, pa_errors.SchemaErrors):
        return False
    return True


def api_errors(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Validation the way the service does it: from JSON text (NaN/Infinity tokens included)."""
    try:
        RECORD.validate_json(json.dumps(record, allow_nan=True))
    except ValidationError as exc:
        return list(exc.errors())
    return []


def expected_accept(record: dict[str, Any]) -> bool:
    kinds = all(json_kind_ok(FEATURES[k], v) for k, v in record.items() if k in FEATURES)
    return kinds and pandera_accepts(record)


def candidates(name: str, column: pa.Column) -> list[Any]:
    """Values around every rule of one column: bounds, levels, nulls, NaN/inf, wrong types."""
    stats = {c.name: c.statistics for c in column.checks}
    dtype = str(column.dtype)
    wrong_types: list[Any] = ["5", True, [1], {"a": 1}]
    if "in_range" in stats:
        low, high = stats["in_range"]["min_value"], stats["in_range"]["max_value"]
        step = 1 if dtype.startswith("int") else 1e-3
        values = [low, high, low - step, high + step, (low + high) // 2, 10**20]
        values += [5.5, float(low)] if dtype.startswith("int") else [int(high), math.nan, math.inf, -math.inf]
    elif "isin" in stats:
        allowed = list(stats["isin"]["allowed_values"])
        values = [*allowed, "unknown", allowed[0].upper(), "", 1]
    else:  # bool
        values = [True, False, 1, 0, "true"]
    return [*values, None, *wrong_types]


CASES = [(name, value) for name, column in FEATURES.items() for value in candidates(name, column)]


def test_smoke_records_are_valid_for_both() -> None:
    records = schema_records(FEATURES)
    assert records == schema_records(FEATURES)  # deterministic: the same rows on every run
    for record in records:
        assert pandera_accepts(record), record
        assert api_errors(record) == []
    # Every column takes its minimum, maximum and midpoint; nullable ones are null in row 3.
    for name, column in FEATURES.items():
        values = [r[name] for r in records]
        assert len(set(map(repr, values[:3]))) == (2 if str(column.dtype) == "bool" else 3), (name, values)
        assert (values[3] is None) == bool(column.nullable), name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FEATURES))
def test_each_rule_of_each_column_decides_like_pandera(name: str) -> None:
    decisions = []
    for value in candidates(name, FEATURES[name]):
        record = {**BASE, name: value}
        errors = api_errors(record)
        assert (not errors) == expected_accept(record), f"{name}={value!r}: api errors {errors}"
        # A rejection names the field and the rule.
        assert all(e["loc"][0] == name and e["type"] for e in errors), errors
        decisions.append(not errors)
    assert any(decisions) and not all(decisions)


def test_missing_and_extra_fields_are_rejected_like_pandera() -> None:
    missing = {k: v for k, v in BASE.items() if k != "age"}
    extra = {**BASE, "customer_id": "C1"}
    for record, rule, field in [(missing, "missing", "age"), (extra, "extra_forbidden", "customer_id")]:
        assert not pandera_accepts(record)
        assert [(e["type"], e["loc"]) for e in api_errors(record)] == [(rule, (field,))]


def pool(name: str) -> st.SearchStrategy[Any]:
    column = FEATURES[name]
    return st.one_of(
        st.sampled_from(candidates(name, column)),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    )


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record = dict(BASE)
    for name in draw(st.lists(st.sampled_from(list(FEATURES)), max_size=3, unique=True)):
        record[name] = draw(pool(name))
    if draw(st.booleans()) and draw(st.booleans()):
        record.pop(draw(st.sampled_from(list(FEATURES))))
    return record


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_random_records_decide_like_pandera(record: dict[str, Any]) -> None:
    assert (not api_errors(record)) == expected_accept(record), record


def test_json_schema_carries_the_rules() -> None:
    schema = RECORD.json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(FEATURES)
    assert schema["properties"]["age"]["minimum"] == 18
    assert schema["properties"]["contract"]["enum"] == categories(SCHEMA)["contract"]


@pytest.mark.parametrize(
    "column",
    [
        pa.Column(str, pa.Check.str_matches(r"^[a-z]+$")),
        pa.Column("datetime64[ns]"),
        pa.Column(int, unique=True),
        pa.Column(float, pa.Check.isin([0.5, 1.5])),
    ],
)
def test_a_rule_without_an_exact_equivalent_stops_the_service(column: pa.Column) -> None:
    with pytest.raises(SchemaNotServable, match="column 'x'"):
        record_type({"x": column})


def test_isin_with_a_range_keeps_only_values_passing_both() -> None:
    adapter = TypeAdapter(record_type({"n": pa.Column(int, [pa.Check.isin([0, 5, 50]), pa.Check.le(10)])}))
    assert adapter.validate_python({"n": 5}) == {"n": 5}
    with pytest.raises(ValidationError):
        adapter.validate_python({"n": 50})


def test_encoder_feeds_the_booster_what_the_pandas_path_does(model, frame, records) -> None:
    ours = model.booster.inplace_predict(Encoder(model.spec).matrix(records)).astype(np.float64)
    np.testing.assert_array_equal(ours, model.predict_proba(frame))
    # Key order in a record does not matter.
    shuffled = [dict(reversed(list(r.items()))) for r in records]
    np.testing.assert_array_equal(Encoder(model.spec).matrix(shuffled), Encoder(model.spec).matrix(records))


def test_schema_and_model_must_agree(model) -> None:
    check_compatible(FEATURES, model.spec)
    fewer = {k: v for k, v in FEATURES.items() if k != "age"}
    with pytest.raises(SchemaNotServable, match="retrain"):
        check_compatible(fewer, model.spec)
    more_levels = {
        **FEATURES,
        "region": pa.Column(str, pa.Check.isin(["north", "south", "east", "west", "mars"])),
    }
    with pytest.raises(SchemaNotServable, match="category levels"):
        check_compatible(more_levels, model.spec)
