"""The body cap (``serving.max_rows x serving.max_row_bytes``) against the schema it serves.

A fixed 1024 bytes per row refused valid 1,000-row requests of wide tables; ``auto`` is the
longest row the served schema allows (``row_width.widest_row``). Requests here go through the
real admission (``PredictEndpoint``: headers, then the body as it streams).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pandera.pandas as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from mlapp.params import ServingParams
from mlapp.schema import FEATURES
from mlapp.serving.admission import BodyBudget, BodyCap
from mlapp.serving.endpoint import PredictEndpoint
from mlapp.serving.records import record_type
from mlapp.serving.request import input_type
from mlapp.serving.row_width import widest_row
from mlapp.serving.settings import AUTO_MIN_ROW_BYTES, body_cap
from tests.serving.conftest import PARAMS

LEVELS = ["retail-banking-customer", "small-business", "enterprise", "public-sector"]
# A wide table: 100 features of every served kind, names as long as real ones.
WIDE: dict[str, pa.Column] = {
    **{f"float_measurement_{i:02d}": pa.Column(float, pa.Check.in_range(-1e6, 1e6)) for i in range(40)},
    **{f"nullable_ratio_{i:02d}": pa.Column(float, nullable=True) for i in range(10)},
    **{f"count_of_events_{i:02d}": pa.Column(int, pa.Check.in_range(0, 1_000_000)) for i in range(25)},
    **{f"segment_{i:02d}": pa.Column(str, pa.Check.isin(LEVELS)) for i in range(15)},
    **{f"has_flag_{i:02d}": pa.Column(bool) for i in range(10)},
}
ROWS = 1000
SPACINGS = {"compact": {"separators": (",", ":")}, "json.dumps": {}, "indent=2": {"indent": 2}}


def _value(name: str, rng: random.Random) -> Any:
    """A valid value, as long as such values usually are (a float with all its digits)."""
    if name.startswith("float"):
        return rng.uniform(-1e6, 1e6)
    if name.startswith("nullable"):
        return None if rng.random() < 0.1 else rng.random() / 7
    if name.startswith("count"):
        return rng.randrange(1_000_000)
    if name.startswith("segment"):
        return rng.choice(LEVELS)
    return rng.random() < 0.5


def _body(spacing: str) -> bytes:
    rng = random.Random(7)  # noqa: S311 - test data, seeded
    records = [{name: _value(name, rng) for name in WIDE} for _ in range(ROWS)]
    return json.dumps({"records": records}, **SPACINGS[spacing]).encode()


class Scored:
    async def score_yielding(self, body: bytes) -> bytes:
        return b'{"rows": %d}' % len(json.loads(body)["records"])


def _post(cap: BodyCap, body: bytes, length: bool = True, chunk: int = 65536) -> tuple[int, bytes, int]:
    """Status, answer and how many body chunks the endpoint read."""
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    endpoint = PredictEndpoint(Scored, lambda status, labels: None, cap, 30, BodyBudget(cap.limit))
    asyncio.run(endpoint({"type": "http", "method": "POST", "headers": headers}, receive, send))
    return sent[0]["status"], sent[1]["body"], read


def _serving(max_row_bytes: int | str) -> ServingParams:
    return ServingParams.model_validate({**PARAMS.serving.model_dump(), "max_row_bytes": max_row_bytes})


@pytest.mark.parametrize("spacing", list(SPACINGS))
def test_a_wide_tables_full_request_fits_auto_and_not_the_old_fixed_cap(spacing: str) -> None:
    body = _body(spacing)
    assert len(TypeAdapter(input_type(record_type(WIDE), ROWS)).validate_json(body)["records"]) == ROWS
    auto = body_cap(_serving("auto"), WIDE)
    assert auto.source.startswith("auto") and auto.row_bytes == widest_row(WIDE) > AUTO_MIN_ROW_BYTES
    assert _post(auto, body)[:2] == (200, b'{"rows": 1000}')
    status, answer, read = _post(body_cap(_serving(1024), WIDE), body)
    assert (status, read) == (413, 0)
    assert json.loads(answer)["error"] == (
        f"body of {len(body)} bytes is over the limit of 1024000 bytes (serving.max_rows 1000 x "
        "serving.max_row_bytes 1024 (params.yaml): send fewer rows, or set serving.max_row_bytes "
        "to a larger number)"
    )


def test_a_body_over_the_auto_cap_is_refused_before_it_is_read() -> None:
    cap = body_cap(_serving("auto"), WIDE)
    over = b" " * (2 * cap.limit)
    status, answer, read = _post(cap, over)
    assert (status, read) == (413, 0)  # from Content-Length: not one chunk read
    assert _post(cap, over[: cap.limit + 1])[0] == 413
    message = json.loads(answer)["error"]
    assert f"over the limit of {cap.limit} bytes" in message
    assert f"serving.max_row_bytes {cap.row_bytes} (auto: the served schema's longest row" in message
    # Without Content-Length: refused once the cap is passed, the rest never read.
    status, _, read = _post(cap, over, length=False)
    assert status == 413 and read == cap.limit // 65536 + 1 < len(over) // 65536


def test_an_explicit_row_bytes_is_the_cap() -> None:
    cap = body_cap(_serving(2048), WIDE)
    assert (cap.limit, cap.source) == (2048 * PARAMS.serving.max_rows, "params.yaml")
    exact = b'{"records": [' + b" " * (cap.limit - 15) + b"]}"
    assert len(exact) == cap.limit
    assert _post(cap, exact, length=False)[0] != 413  # within the cap: read, then parsed
    assert _post(cap, exact + b" ")[0] == 413
    for wrong in (63, "big"):
        with pytest.raises(ValidationError, match="max_row_bytes"):
            _serving(wrong)


def test_the_shipped_schema_keeps_the_floor() -> None:
    """17 features: the longest row is under 1024 bytes, so auto is today's 1000 x 1024."""
    assert PARAMS.serving.max_row_bytes == "auto"
    assert widest_row(FEATURES) < AUTO_MIN_ROW_BYTES
    assert body_cap(PARAMS.serving).limit == PARAMS.serving.max_rows * AUTO_MIN_ROW_BYTES


def test_the_widest_row_holds_every_value_at_its_widest() -> None:
    """A record of the widest values the columns allow, pretty-printed, is within widest_row."""
    widest: dict[str, Any] = {}
    for name in WIDE:
        if name.startswith(("float", "nullable")):
            widest[name] = -2.2250738585072014e-308 if name.startswith("nullable") else -123456.78901234567
        elif name.startswith("count"):
            widest[name] = 1_000_000
        else:
            widest[name] = max(LEVELS, key=len) if name.startswith("segment") else False
    TypeAdapter(record_type(WIDE)).validate_python(widest)
    one = json.dumps({"records": [widest]}, indent=4)
    assert len(one) - len('{\n    "records": [\n    ]\n}') <= widest_row(WIDE)
