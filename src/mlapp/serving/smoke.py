"""Post-deploy smoke test (``mlapp serving smoke --url URL``): is the right model up and correct?

Checks, in order, each printed as it passes:
1. ``/livez`` and ``/readyz`` answer 200 (the service may still be starting: both are
   polled until ``--timeout``, a deadline for all the attempts: each is given what is left);
2. ``/predict`` on records derived from the schema itself (``schema_records``: every
   column at its minimum, its maximum, its midpoint, and null where nullable; first,
   last and middle category) returns, for each, the answer the local ``models/`` artifact
   gives (``Model.scores``, the pandas path: an independent check of the service's own
   encoding): numbers within ``1e-6`` (relative above 1), the same labels, per the task's
   response (probability/label, label/probabilities, prediction). No data file: it works
   for any schema in ``mlapp.schema.FEATURES``. ``mlapp delivery smoke`` sends the records
   and expects the answers its release recorded (``case``) instead;
3. the model version in the response header and in ``/metadata`` is the expected one
   (``--expect-version``, else the local model's version).

With ``$MLAPP_API_TOKEN`` set, every request carries it as a bearer token (a service with
tokens configured answers 401 otherwise; health probes are always open).

Any failure raises ``SmokeFailure`` with what was expected and what came back.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pandera.pandas as pa
from pydantic import TypeAdapter

from mlapp.errors import UserError, redact, unanswered
from mlapp.model import load
from mlapp.schema import FEATURES
from mlapp.serving import responses
from mlapp.serving.records import record_type

TOLERANCE = 1e-6
TOKEN_ENV = "MLAPP_API_TOKEN"  # noqa: S105 - the variable that holds the bearer token, not a token
ATTEMPT_S = 30.0  # one request's longest wait: a hung attempt is given up for another while time is left
LAST_S = 0.1  # an attempt at the deadline still gets this: httpx's connect given 0 s fails at once


class SmokeFailure(Exception):
    """The deployed service is not healthy or does not serve the expected model."""


OPEN_RANGE = 100  # a column bounded on one side only gets values up to this far from its bound


def _numbers(field: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Minimum, maximum and midpoint of a JSON-schema number or integer field."""
    integer = field["type"] == "integer"
    low, high = field.get("minimum"), field.get("maximum")
    open_low, open_high = field.get("exclusiveMinimum"), field.get("exclusiveMaximum")
    bound_low = low if low is not None else open_low
    bound_high = high if high is not None else open_high
    if bound_low is None:
        bound_low = bound_high - OPEN_RANGE if bound_high is not None else -1
    if bound_high is None:
        bound_high = bound_low + OPEN_RANGE
    # An excluded bound: one step inside (1 for integers, a thousandth of the range otherwise).
    step = 1 if integer else (bound_high - bound_low) / 1000
    low = bound_low + step if low is None and open_low is not None else bound_low
    high = bound_high - step if high is None and open_high is not None else bound_high
    if integer:
        return int(low), int(high), (int(low) + int(high)) // 2
    return float(low), float(high), (float(low) + float(high)) / 2


def _candidates(field: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(minimum, maximum, midpoint) of one field; for categories: first, last, middle level."""
    if "enum" in field:
        levels = list(field["enum"])
        return levels[0], levels[-1], levels[len(levels) // 2]
    if field.get("const") is not None:
        return (field["const"],) * 3
    if field["type"] == "boolean":
        return False, True, True
    return _numbers(field)


def schema_records(features: Mapping[str, pa.Column]) -> list[dict[str, Any]]:
    """Deterministic valid records for any servable schema, read off the request model itself.

    Row 0 holds every column's minimum (first category, ``False``), row 1 its maximum (last
    category, ``True``), row 2 the midpoint (middle category), row 3 the midpoint with
    ``null`` in every nullable column. The request model (``records.record_type``) is what
    the service validates, so these rows are accepted by construction.
    """
    schema = TypeAdapter(record_type(features)).json_schema()
    rows: list[dict[str, Any]] = [{}, {}, {}, {}]
    for name, spec in schema["properties"].items():
        options = spec.get("anyOf", [spec])
        field = next(o for o in options if o.get("type") != "null")
        nullable = any(o.get("type") == "null" for o in options)
        low, high, mid = _candidates(field)
        for row, value in zip(rows, (low, high, mid, None if nullable else mid), strict=True):
            row[name] = value
    return rows


def left(deadline: float, most: float) -> float:
    """One attempt's timeout: what is left until ``deadline`` (``time.monotonic()``), at most
    ``most``. Retries are the caller's loop, never the transport's: httpcore's gave each of its
    connects the whole timeout (``--timeout 3`` waited 13.7 s for a connection never taken)."""
    return max(min(deadline - time.monotonic(), most), LAST_S)


def cleartext(url: str) -> bool:
    """Whether a request to ``url`` crosses a network unencrypted: http:// to another host than
    this one (a port-forward or a local server is 127.0.0.1, localhost or ::1)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname in (None, "localhost"):
        return False
    try:
        return not ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:  # a name
        return True


def client(url: str, timeout_s: float, token: str | None = None) -> httpx.Client:
    """``token`` (default ``$MLAPP_API_TOKEN``) is sent as ``Authorization: Bearer``, never in
    clear text across a network (a UserError: anyone on the path could replay it)."""
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    if token and cleartext(url):
        raise UserError(f"refusing to send ${TOKEN_ENV} unencrypted to {url}: use https:// or a port-forward")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), timeout=min(timeout_s, ATTEMPT_S), headers=headers)


def no_answer(url: str, exc: httpx.TimeoutException, seconds: float | None = None) -> str:
    """A request to ``url`` that timed out, in words (httpx says "timed out"): ``seconds`` waited,
    else the timeout the request was given."""
    seconds = exc.request.extensions["timeout"]["read"] if seconds is None else seconds
    kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
    return unanswered(redact(url), kind, f"{round(seconds, 2):g}")


def sent(http: httpx.Client, path: str, body: Any) -> httpx.Response:
    """POST ``body`` to ``path``: a request that failed on the way is a ``SmokeFailure`` naming it."""
    try:
        return http.post(path, json=body)
    except httpx.TimeoutException as exc:
        raise SmokeFailure(no_answer(f"{http.base_url}{path}", exc)) from exc
    except httpx.TransportError as exc:
        raise SmokeFailure(f"{redact(str(http.base_url))}{path}: {type(exc).__name__}: {exc}") from exc


def wait_ready(
    http: httpx.Client, timeout_s: float, poll_s: float = 1.0, gone: Callable[[], str | None] | None = None
) -> float:
    """/livez then /readyz must answer 200 before the deadline: the seconds it took. Each request gets
    what is left, at most the client's timeout. ``gone``, for a server started here, says how it
    ended (None while it runs): one that ended fails at once."""
    started = time.monotonic()
    deadline = started + timeout_s
    for path in ("/livez", "/readyz"):
        where = redact(f"{http.base_url}{path}")
        while True:
            try:
                status = http.get(path, timeout=left(deadline, http.timeout.read or ATTEMPT_S)).status_code
            except httpx.TimeoutException as exc:  # waited to the deadline, whatever the request's own
                status, failed = 0, no_answer(where, exc, timeout_s)
            except httpx.TransportError as exc:
                status, failed = 0, f"{where} not healthy after {timeout_s:g} s ({type(exc).__name__}: {exc})"
            else:
                failed = f"{where} not healthy after {timeout_s:g} s (HTTP {status})"
            if status == 200:
                break
            if gone is not None and (ended := gone()) is not None:
                raise SmokeFailure(f"{ended} before it was ready")
            if (remaining := deadline - time.monotonic()) <= 0:
                raise SmokeFailure(failed)
            time.sleep(min(poll_s, remaining))
    return time.monotonic() - started


def _close(got: Any, want: float) -> bool:
    return isinstance(got, int | float) and abs(float(got) - want) <= TOLERANCE * max(1.0, abs(want))


def compare(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    """Field by field: numbers within ``TOLERANCE`` (relative above 1), labels equal."""
    if len(got) != len(want):
        return [f"{len(got)} predictions for {len(want)} records"]
    problems = []
    for i, (row, expect) in enumerate(zip(got, want, strict=True)):
        if set(row) != set(expect):
            problems.append(f"record {i}: fields {sorted(row)} != expected {sorted(expect)}")
            continue
        for key, value in expect.items():
            if isinstance(value, dict):
                bad = [c for c, p in value.items() if not _close(row[key].get(c), p)]
                if bad or set(row[key]) != set(value):
                    problems.append(f"record {i}: {key} {row[key]} != expected {value}")
            elif isinstance(value, float):
                if not _close(row[key], value):
                    problems.append(f"record {i}: {key} {row[key]} != expected {value:.9f}")
            elif row[key] != value:
                problems.append(f"record {i}: {key} {row[key]!r} != expected {value!r}")
    return problems


Case = dict[str, list[dict[str, Any]]]  # "records" sent to /predict, the model's "answers" to them


def case(model_dir: Path) -> tuple[str, Case]:
    """(model version, ``schema_records(FEATURES)`` with the model's answers through the pandas
    path, shaped as /predict's). A release records the case: a later job smoke-tests the
    service with it, without the model or this checkout's schema."""
    model, records = load(model_dir), schema_records(FEATURES)
    scores = model.scores(pd.DataFrame.from_records(records))
    decided = np.zeros(len(scores), np.int64) if model.task == "regression" else model.spec.decide(scores)
    answers = json.loads(responses.answer(model.spec, scores, decided))
    return model.version, {"records": records, "answers": answers}


def run(
    url: str,
    model_dir: Path,
    expect_version: str | None = None,
    timeout_s: float = 60.0,
    echo: Callable[[str], None] = print,
) -> None:
    """The checks above, against the model in ``model_dir``."""
    local_version, local = case(model_dir)
    source = f"the local model {local_version} in {model_dir}/"
    check(url, local, expect_version or local_version, source, timeout_s, echo)


def check(
    url: str,
    expect: Case,
    version: str,
    source: str,
    timeout_s: float = 60.0,
    echo: Callable[[str], None] = print,
) -> None:
    """The checks above: ``expect`` holds the records to send and the answers ``source`` gives."""
    records = expect["records"]
    with client(url, timeout_s) as http:
        wait_ready(http, timeout_s)
        echo(f"ok   {redact(url)}: /livez and /readyz answer 200")  # a proxy's password: ***

        response = sent(http, "/predict", {"records": records})
        if response.status_code != 200:
            hint = {
                400: f" (does the service run the schema of {source}?)",
                401: f" (the service wants a bearer token: set ${TOKEN_ENV})",
            }.get(response.status_code, "")
            raise SmokeFailure(f"/predict answered HTTP {response.status_code}{hint}: {response.text[:2000]}")
        problems = compare(response.json(), expect["answers"])
        if problems:
            raise SmokeFailure(f"predictions differ from {source}:\n  " + "\n  ".join(problems))
        echo(f"ok   /predict: {len(records)} records match {source} within {TOLERANCE:g}")

        served = {
            "X-Model-Version header": response.headers.get("x-model-version"),
            "/metadata": sent(http, "/metadata", {}).json().get("model_version"),
        }
        wrong = {where: got for where, got in served.items() if got != version}
        if wrong:
            raise SmokeFailure(f"expected model version {version}, the service reports {wrong}")
        echo(f"ok   model version {version} (git {response.headers.get('x-git-commit', '?')[:12]})")
