"""Admission, refusal accounting and authentication, against a real `mlapp serve` over HTTP.

The server runs with bearer tokens from a file (rotated here), a metrics token from the
environment and a short body deadline; raw sockets play the clients httpx will not be:
two Content-Type headers, a 100 MB body, headers or a body that never finish, a client that leaves.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import select
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlapp.serving import heads
from mlapp.serving.local import free_port
from mlapp.serving.settings import body_cap
from tests.conftest import own_probe_port, running_server, sh
from tests.serving.conftest import PARAMS
from tests.serving.test_dashboard import DASHBOARD, dashboard_queries, selects

pytestmark = pytest.mark.slow

TOKEN = "first-token-0123456789"  # noqa: S105 - a test token
ROTATED = "second-token-9876543210"
METRICS_TOKEN = "metrics-token-abc"  # noqa: S105
BODY_TIMEOUT_S = 2
HEADER_TIMEOUT_S = 2
MAX_CONCURRENCY = 8  # per pod (BentoML divides it among the workers): one worker here
CAP = body_cap(PARAMS.serving).limit
BUDGET_BODIES = 2  # serving.max_body_bytes_in_flight: this many bodies at the cap
HEADER_TIMEOUTS = (("field", "headers"), ("rule", "header_timeout"))
DURATION = "bentoml_service_request_duration_seconds"  # BentoML's histogram, the latency panels'


@pytest.fixture(scope="module")
def server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("admission")
    params = yaml.safe_load((serving_root / "params.yaml").read_text())
    params["serving"].update(
        body_timeout_s=BODY_TIMEOUT_S,
        header_timeout_s=HEADER_TIMEOUT_S,
        max_concurrency=MAX_CONCURRENCY,
        max_body_bytes_in_flight=BUDGET_BODIES * CAP,
        workers=1,
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    tokens = root / "tokens"
    tokens.write_text(f"# API clients\n{TOKEN}\n")
    port = free_port()
    log = root / "server.log"
    env = {
        **os.environ,
        "MLAPP_MODEL_DIR": str(serving_root / "models"),
        "MLAPP_API_TOKENS_FILE": str(tokens),
        "MLAPP_METRICS_TOKENS": METRICS_TOKEN,
        "MLAPP_PREDICTION_LOG": str(root / "predictions.jsonl"),
    }
    argv = [
        sys.executable,
        "-m",
        "mlapp",
        "--params",
        str(root / "params.yaml"),
        "serving",
        "serve",
        "--port",
        str(port),
        *own_probe_port(),
    ]
    with running_server(argv, port, serving_root, log, env=env) as url:
        yield {"url": url, "port": port, "log": log, "tokens": tokens}


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def raw(port: int, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, bytes]:
    """Send a hand-written request; the status and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        send(sock, head, body)
        return read_answer(sock)


def send(sock: socket.socket, head: str, body: bytes = b"") -> None:
    """A hand-written head (``head()``: lines joined by newlines) on the wire, then ``body``."""
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def head(port: int, *lines: str) -> str:
    return "\n".join(
        ["POST /predict HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Authorization: Bearer {TOKEN}", *lines, ""]
    )


def server_pids(port: int) -> list[int]:
    """The server process (`mlapp.serving.supervise`) on ``port`` and its descendants (the workers)."""
    parents: dict[int, int] = {}
    commands: dict[int, list[bytes]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parents[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
                commands[int(p.name)] = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
    servers = {
        pid
        for pid, argv in commands.items()
        if b"mlapp.serving.supervise" in argv and str(port).encode() in argv
    }
    leader = next(pid for pid in servers if parents[pid] not in servers)  # its workers are its forks
    found, frontier = [leader], [leader]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def worker_rss_bytes(port: int) -> int:
    """Resident memory of the server: the supervisor and its workers."""
    total = 0
    pids = server_pids(port)
    assert len(pids) >= 2, "no worker process found"
    for pid in pids:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading: counts 0
            total += psutil.Process(pid).memory_info().rss  # /proc's VmRSS
    return total


def series(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{url}/metrics", headers=auth(METRICS_TOKEN), timeout=10).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


# --- Content-Type and JSON shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (["Content-Type: multipart/form-data; boundary=x", "Content-Type: application/json"], 415),
        (["Content-Type: application/json", "Content-Type: application/json"], 415),
        ([], 415),
        (["Content-Type: application/foo+json"], 415),
        (["Content-Type: application/json; charset=latin-1"], 415),
        (["Content-Type: application/json; boundary=x"], 415),
        (["Content-Type: application/json; charset=UTF-8"], 200),
    ],
)
def test_exactly_one_json_content_type(server, records, headers, status) -> None:
    body = json.dumps({"records": records[:2]}).encode()
    got, answer = raw(server["port"], head(server["port"], *headers, f"Content-Length: {len(body)}"), body)
    assert got == status, answer


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('{"records": [RECORD], "extra": 1}', "extra_forbidden"),
        ('{"records": [RECORD], "records": [RECORD]}', "duplicate_key"),
        ('{"records": [DUPLICATE]}', "duplicate_key"),
        # Past Python's parser, which the duplicate check reads with: a 500 (RecursionError).
        ('{"records": [], "records": NESTED}', "json_invalid"),
        # An error per unknown key was built: 33,000 cost 120-700 ms of the event loop.
        ('{"records": [CROWDED]}', "too_many_keys"),
    ],
)
def test_extra_and_duplicate_keys_are_400(server, records, text, rule) -> None:
    record = json.dumps(records[0])
    duplicate = record[:-1] + ', "age": 30}'
    nested = '{"a": ' * 1_500 + "1" + "}" * 1_500
    crowded = record[:-1] + "".join(f', "{i:x}": 0' for i in range(5_000)) + "}"
    body = text.replace("RECORD", record).replace("DUPLICATE", duplicate).replace("NESTED", nested)
    body = body.replace("CROWDED", crowded)
    response = httpx.post(
        f"{server['url']}/predict", content=body, headers={**auth(), "content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert [e["type"] for e in response.json()["detail"]] == [rule]


HOSTILE_BODIES = {  # under the body cap, well-formed JSON, each value costing the parsers
    "empty arrays": b'{"records": [' + b",".join([b"[]"] * 300_000) + b"]}",
    "unknown keys": b'{"records": [{' + b",".join(b'"%x": 0' % i for i in range(90_000)) + b"}]}",
}


@pytest.mark.parametrize("shape", list(HOSTILE_BODIES))
def test_a_body_holding_more_values_than_any_request_is_400_unparsed(server, shape) -> None:
    """1 MB of empty arrays cost a worker ~1 s of its event loop in the parsers (~2 ms for a valid
    1,000-row body): 32 clients sending it made other requests wait 35 s and time out (504).
    Its punctuation is counted instead, and the answer names what no request holds."""
    url, body = server["url"], HOSTILE_BODIES[shape]
    assert len(body) < PARAMS.serving.max_rows * 1024  # not a 413: the cap is bytes, this is values
    counted = series(url, "mlapp_rejections_total").get((("field", "body"), ("rule", "too_many_values")), 0)
    response = httpx.post(
        f"{url}/predict", content=body, headers={**auth(), "content-type": "application/json"}, timeout=30
    )
    assert response.status_code == 400, response.text
    [issue] = response.json()["detail"]
    assert issue["type"] == "too_many_values", issue
    assert f"serving.max_rows ({PARAMS.serving.max_rows})" in issue["msg"]
    after = series(url, "mlapp_rejections_total")[(("field", "body"), ("rule", "too_many_values"))]
    assert after == counted + 1


def test_validation_stops_at_the_first_invalid_record(server, records) -> None:
    """1,000 records of 17 unknown keys (105 KB) made pydantic build 34,000 errors to list 20:
    ~0.2 s of a worker's event loop each, and 32 clients sending them made a 1-row request wait
    12 s. Now the first invalid record's issues are built, counted and listed."""
    unknown = {f"k{i}": 0 for i in range(len(records[0]))}
    body = json.dumps({"records": [records[0], records[1], *[unknown] * 998]})
    response = httpx.post(
        f"{server['url']}/predict", content=body, headers={**auth(), "content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    answer = response.json()
    issues = 2 * len(records[0])  # each feature missing, each unknown key extra
    assert answer["error"] == (
        f"{issues} validation errors for Input in records[2], the first invalid record "
        f"(the ones after it are not checked) (the first {PARAMS.serving.max_error_details} listed)"
    )
    assert {e["loc"][1] for e in answer["detail"]} == {2}


# --- size cap and deadlines ------------------------------------------------------------------------


def warm(server: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """One answer of each kind first: what a worker allocates once is not growth per request."""
    assert (
        httpx.post(f"{server['url']}/predict", json={"records": records[:5]}, headers=auth()).status_code
        == 200
    )
    big = httpx.post(
        f"{server['url']}/predict",
        content=b" " * (2 << 20),
        headers={**auth(), "content-type": "application/json"},
    )
    assert big.status_code == 413


def test_a_100_mb_body_is_413_from_its_header_without_memory_growth(server, records) -> None:
    port = server["port"]
    warm(server, records)
    before = worker_rss_bytes(port)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        send(sock, head(port, "Content-Type: application/json", f"Content-Length: {100 << 20}"))
        status, answer = read_answer(sock)  # answered before a single byte of the body was sent
    assert status == 413, answer
    assert "over the limit" in json.loads(answer)["error"]
    assert worker_rss_bytes(port) - before < 50 << 20


def test_a_chunked_body_is_cut_at_the_cap(server, records) -> None:
    port = server["port"]
    warm(server, records)
    before = worker_rss_bytes(port)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        send(sock, head(port, "Content-Type: application/json", "Transfer-Encoding: chunked"))
        chunk = b" " * (1 << 20)
        try:
            while sent < 100 << 20:  # the server stops reading and answers long before 100 MB
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _ = read_answer(sock)
    assert status == 413
    assert sent < 100 << 20
    assert worker_rss_bytes(port) - before < 50 << 20


def test_a_body_that_stops_arriving_is_408_after_the_deadline(server) -> None:
    port = server["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 20) as sock:
        send(sock, head(port, "Content-Type: application/json", "Content-Length: 1000"))
        sock.sendall(b'{"records": [')
        status, answer = read_answer(sock)
    assert status == 408, answer


def test_headers_that_stop_arriving_are_408_after_the_deadline(server) -> None:
    port, url = server["port"], server["url"]
    before = series(url, "mlapp_rejections_total").get(HEADER_TIMEOUTS, 0)
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + 20) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        status, answer = read_answer(sock)
        assert sock.recv(1) == b""  # and the connection is closed
    assert status == 408, answer
    assert json.loads(answer)["error"] == heads.too_slow(HEADER_TIMEOUT_S)  # the probe port's words
    assert series(url, "mlapp_rejections_total").get(HEADER_TIMEOUTS, 0) == before + 1


def test_headers_sent_a_byte_at_a_time_are_cut_at_the_deadline(server) -> None:
    """Every byte would reset uvicorn's own keep-alive timer; the header deadline does not move."""
    port = server["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nX-Slow: ")
        answer, cut = b"", False
        give_up = time.monotonic() + HEADER_TIMEOUT_S + 30
        while not cut and time.monotonic() < give_up:
            try:
                sock.sendall(b"a")
                answer = sock.recv(65536)  # waits up to 0.2 s: the pace of the trickle
                cut = True
            except TimeoutError:
                continue
            except OSError:  # reset: a byte crossed the server's close (its 408 may be lost with it)
                cut = True
    assert cut, "the server kept the connection open while headers trickled in"
    assert answer.startswith(b"HTTP/1.1 408 ") or not answer, answer


def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(server, records) -> None:
    port = server["port"]
    body = json.dumps({"records": records[:2]}).encode()
    first = head(port, "Content-Type: application/json", f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + 20) as sock:
        send(sock, first, body)
        assert read_answer(sock)[0] == 200
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no more
        status, answer = read_answer(sock)
    assert status == 408, answer


def test_a_connection_that_sends_nothing_is_closed(server) -> None:
    port = server["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + 20) as sock:
        assert sock.recv(1) == b""  # closed without an answer, as an idle keep-alive connection


def test_a_client_leaving_mid_body_is_no_server_error(server) -> None:
    port, url = server["port"], server["url"]
    gone = (("field", "body"), ("rule", "client_disconnected"))
    before = series(url, "mlapp_rejections_total").get(gone, 0)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            send(sock, head(port, "Content-Type: application/json", "Content-Length: 5000"))
            sock.sendall(b'{"records": [')
    deadline = time.monotonic() + 30
    while series(url, "mlapp_rejections_total").get(gone, 0) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert series(url, "mlapp_rejections_total").get(gone, 0) == before + 3
    statuses = {
        dict(labels)["http_response_code"]
        for labels in series(url, "bentoml_service_request_total")
        if dict(labels)["endpoint"] == "/predict"
    }
    assert not any(code.startswith("5") for code in statuses), statuses
    assert "Traceback" not in server["log"].read_text()
    assert " ERROR " not in server["log"].read_text()


def test_refused_bodies_are_freed_at_once_not_by_a_rare_full_garbage_collection(server, records) -> None:
    """A refusal's traceback held the request's frames (its body and parsed records) in a cycle
    with the future that carried it: 3,246 1,000-row bodies refused for one value each grew a
    worker by 273 MB (a 32-client flood: 400-500 MB each, over infra's 1 GiB for the pod). Without
    the fix (endpoint.py clears the frames) this server grew ~20 MiB per 100 such refusals until a
    full collection (after ~1,850): ~108 MiB after these 500, twice the bound; with it, 5 MiB."""
    warm(server, records)
    body = json.dumps({"records": [{**records[0], "age": 5}] * PARAMS.serving.max_rows}).encode()
    headers = {**auth(), "content-type": "application/json"}
    before = worker_rss_bytes(server["port"])
    with httpx.Client(base_url=server["url"], headers=headers, timeout=30) as client:
        for _ in range(500):
            assert client.post("/predict", content=body).status_code == 400
    assert worker_rss_bytes(server["port"]) - before < 50 << 20


def test_a_client_that_half_closes_after_its_request_gets_its_answer(server, records) -> None:
    """``shutdown(SHUT_WR)`` once the request is sent (``nc -N`` does): the request was served and
    its refusal counted, but uvicorn closed the connection on the client's EOF and the answer was
    lost whenever the EOF came first (small requests: 24 of 30 against a live server)."""
    port = server["port"]
    good = json.dumps({"records": records[:2]}).encode()
    bad = json.dumps({"records": [{**records[0], "age": 5}]}).encode()
    for body, status in [(good, 200), (bad, 400)] * 5:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            send(sock, head(port, "Content-Type: application/json", f"Content-Length: {len(body)}"), body)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):  # until the server closes, once the answer is sent
                received += chunk
        assert received.startswith(b"HTTP/1.1 %d " % status), received[:300]


def test_refusals_are_counted_and_logged_aggregated(server, records) -> None:
    url = server["url"]
    for _ in range(20):
        bad = {"records": [{**records[0], "age": 5}]}
        assert httpx.post(f"{url}/predict", json=bad, headers=auth()).status_code == 400
    assert series(url, "mlapp_rejections_total")[(("field", "age"), ("rule", "greater_than_equal"))] >= 20
    lines = [ln for ln in server["log"].read_text().splitlines() if "refused requests" in ln]
    assert 1 <= len(lines) <= 3  # one report per minute, not one line per refusal


def test_headers_over_the_cap_are_431_without_memory_growth(server, records) -> None:
    """uvicorn buffered a header line whole: 100 MB of header grew the worker by 100 MB."""
    port, url = server["port"], server["url"]
    warm(server, records)
    too_large = (("field", "headers"), ("rule", "header_too_large"))
    counted = series(url, "mlapp_rejections_total").get(too_large, 0)
    before = worker_rss_bytes(port)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
        try:
            while sent < 100 << 20:  # the server answers and closes long before
                sock.sendall(b"a" * (1 << 20))
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, answer = read_answer(sock)
    assert status == 431, answer
    assert json.loads(answer)["error"] == heads.too_large(PARAMS.serving.max_header_bytes, chunked=True)
    assert sent < 100 << 20
    assert worker_rss_bytes(port) - before < 50 << 20
    assert series(url, "mlapp_rejections_total").get(too_large, 0) == counted + 1


def test_chunked_trailers_over_the_cap_are_431_without_memory_growth(server, records) -> None:
    """Trailers after a chunked body are headers too: 100 MB of them grew the worker by 67 MB."""
    port = server["port"]
    warm(server, records)
    body = json.dumps({"records": records[:1]}).encode()
    before = worker_rss_bytes(port)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        send(sock, head(port, "Content-Type: application/json", "Transfer-Encoding: chunked"))
        sock.sendall(b"%x\r\n%s\r\n0\r\n" % (len(body), body))
        try:
            while sent < 100 << 20:  # the server answers and closes long before
                sock.sendall(b"X-Trailer: " + b"a" * (1 << 20) + b"\r\n")
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, answer = read_answer(sock)
    assert status == 431, answer
    assert sent < 100 << 20
    assert worker_rss_bytes(port) - before < 50 << 20


def test_pipelined_requests_are_answered_in_order(server, records) -> None:
    """Several requests in one write, before any answer: each answered, in order."""
    port = server["port"]
    bodies = [{"records": records[:2]}, {"records": [{**records[0], "age": 5}]}, {"records": records}]
    request = b""
    for body in bodies * 3:
        data = json.dumps(body).encode()
        lines = head(port, "Content-Type: application/json", f"Content-Length: {len(data)}")
        request += lines.replace("\n", "\r\n").encode() + b"\r\n" + data
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock, sock.makefile("rb") as wire:
        sock.sendall(request)
        for _ in bodies * 3:
            status = int(wire.readline().split()[1])
            fields = [line.lower() for line in iter(wire.readline, b"\r\n")]  # up to the blank line
            length = next(int(f.split(b":")[1]) for f in fields if f.startswith(b"content-length:"))
            answers.append((status, json.loads(wire.read(length))))
    assert [status for status, _ in answers] == [200, 400, 200] * 3
    assert [len(answer) for status, answer in answers if status == 200] == [2, len(records)] * 3


def sent_whole_then_read(port: int, request: bytes) -> bytes:
    """A client that writes its whole request before reading a byte of the answer (Python's
    urllib does): everything it reads until the server's end of output, or the error it got."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except OSError as exc:  # the server closed with bytes of ours unread: the kernel reset it
            return repr(exc).encode()
    return data


@pytest.mark.parametrize("framing", ["content-length", "chunked", "header"])
def test_a_client_sending_all_before_reading_gets_the_refusal_not_a_reset(server, framing) -> None:
    """The server answers a body over the cap from its head (or as soon as the cap is passed),
    then closes: the client's bytes still arriving made the kernel reset the connection, so this
    client got "connection reset" or "broken pipe" instead of the 413 (every time above ~1 MB on
    loopback). The server now reads and drops them until the client closes its end."""
    port = server["port"]
    body = b" " * (CAP + CAP // 2)  # under serving.max_body_bytes_in_flight (what is dropped, at most)
    lines = ["Content-Type: application/json"]
    if framing == "content-length":
        request = head(port, *lines, f"Content-Length: {len(body)}").encode().replace(b"\n", b"\r\n")
        request += b"\r\n" + body
    elif framing == "chunked":
        request = head(port, *lines, "Transfer-Encoding: chunked").encode().replace(b"\n", b"\r\n")
        request += b"\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    else:
        pad = "X-Pad: " + "a" * (PARAMS.serving.max_header_bytes * 4)
        request = head(port, pad, *lines, "Content-Length: 0").encode().replace(b"\n", b"\r\n") + b"\r\n"
    data = sent_whole_then_read(port, request)
    status = {"header": b"431", "content-length": b"413", "chunked": b"413"}[framing]
    assert data.startswith(b"HTTP/1.1 " + status + b" "), data[:300]
    assert b"connection: close" in data.split(b"\r\n\r\n", 1)[0].lower()
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]


def test_malformed_chunked_framing_is_counted_once_not_as_a_client_leaving(server) -> None:
    """The HTTP server refuses the framing (a 400, counted ``malformed_http``) while the endpoint
    reads the body: the end of that body was counted again as ``client_disconnected`` and a 499."""
    port, url = server["port"], server["url"]
    malformed = (("field", "request"), ("rule", "malformed_http"))
    gone = (("field", "body"), ("rule", "client_disconnected"))

    def predict_answers() -> dict[str, float]:
        counts = series(url, "bentoml_service_request_total")
        return {
            dict(k)["http_response_code"]: v for k, v in counts.items() if dict(k)["endpoint"] == "/predict"
        }

    rejections, answers = series(url, "mlapp_rejections_total"), predict_answers()
    request = head(port, "Content-Type: application/json", "Transfer-Encoding: chunked")
    status, answer = raw(port, request, b'5\r\n{"rec\r\nzz\r\n')  # "zz": no chunk size
    assert status == 400, answer
    assert "chunk size" in json.loads(answer)["error"]
    deadline = time.monotonic() + 30  # the endpoint records the request once it sees the body end
    while sum(predict_answers().values()) == sum(answers.values()):
        assert time.monotonic() < deadline, "the request was never recorded"
        time.sleep(0.1)
    after = series(url, "mlapp_rejections_total")
    assert after.get(malformed, 0) == rejections.get(malformed, 0) + 1
    assert after.get(gone, 0) == rejections.get(gone, 0)
    recorded = {code: n - answers.get(code, 0) for code, n in predict_answers().items()}
    assert {code: n for code, n in recorded.items() if n} == {"400": 1}


def test_a_request_answered_before_its_body_gets_no_second_answer(server) -> None:
    """A 401 goes out before the body is read; framing past the cap then closes the connection
    without writing a 431 behind the 401."""
    port = server["port"]
    lines = ["POST /predict HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        send(sock, "\n".join([*lines, "Transfer-Encoding: chunked", ""]))
        try:
            for _ in range(100_000):  # 1-byte chunks: 5 bytes of framing each
                sock.sendall(b"1\r\n \r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:  # closed with our framing unread: what came before it counts
            pass
    assert data.startswith(b"HTTP/1.1 401 "), data
    assert data.count(b"HTTP/1.1 ") == 1, data


def test_a_head_just_under_the_cap_and_its_body_in_one_packet_are_served(server, records) -> None:
    port = server["port"]
    body = json.dumps({"records": records[:2]}).encode()
    lines = head(port, "Content-Type: application/json", f"Content-Length: {len(body)}")
    pad = "X-Pad: " + "a" * (PARAMS.serving.max_header_bytes - len(lines) - 20)
    status, answer = raw(
        port, head(port, pad, "Content-Type: application/json", f"Content-Length: {len(body)}"), body
    )
    assert status == 200, answer


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (["Content-Length: 5", "Content-Length: 6"], "Duplicate Content-Length"),
        (["Content-Length: -5"], "Content-Length"),
        (["Content-Length: 5", "Transfer-Encoding: chunked"], "Transfer-Encoding"),
        (["X-Bad: \x01"], "header value"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_reason_counted_not_logged(server, lines, reason) -> None:
    port, url = server["port"], server["url"]
    malformed = (("field", "request"), ("rule", "malformed_http"))
    counted = series(url, "mlapp_rejections_total").get(malformed, 0)
    status, answer = raw(port, head(port, "Content-Type: application/json", *lines), b"12345")
    assert status == 400, answer
    assert reason in json.loads(answer)["error"]
    assert series(url, "mlapp_rejections_total").get(malformed, 0) == counted + 1
    assert "Invalid HTTP request received" not in server["log"].read_text()


def test_a_compressed_body_is_415_not_invalid_json(server, records) -> None:
    body = gzip.compress(json.dumps({"records": records[:2]}).encode())
    response = httpx.post(
        f"{server['url']}/predict",
        content=body,
        headers={**auth(), "content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code == 415, response.text
    assert "Content-Encoding 'gzip'" in response.json()["error"]


def test_a_transfer_coding_but_chunked_is_415(server, records) -> None:
    """``Transfer-Encoding: gzip, chunked`` was read as if plain: a gzipped body was "invalid JSON"."""
    port = server["port"]
    body = json.dumps({"records": records[:1]}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    lines = ["Content-Type: application/json", "Transfer-Encoding: gzip, chunked"]
    status, answer = raw(port, head(port, *lines), chunked)
    assert status == 415, answer
    assert "Transfer-Encoding 'gzip, chunked'" in json.loads(answer)["error"]
    assert raw(port, head(port, lines[0], "Transfer-Encoding: chunked"), chunked)[0] == 200


def hold_every_slot(port: int, body: bytes) -> list[socket.socket]:
    """MAX_CONCURRENCY requests whose bodies never finish: each holds a slot until its body deadline."""
    held = [
        socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 20)
        for _ in range(MAX_CONCURRENCY)
    ]
    for sock in held:
        send(sock, head(port, "Content-Type: application/json", f"Content-Length: {len(body)}"), body[:5])
    return held


def refused_while_held(port: int, body: bytes, held: list[socket.socket], deadline: float) -> bytes | None:
    """Requests until one is refused (its answer); None once a held request has its 408 (its slot
    is free again: on a loaded machine this client can run after the BODY_TIMEOUT_S holds last)."""
    while (
        over := raw(port, head(port, "Content-Type: application/json", f"Content-Length: {len(body)}"), body)
    )[0] != 429:
        assert over[0] == 200, over
        assert time.monotonic() < deadline, "never refused"
        if select.select(held, [], [], 0)[0]:
            return None
    return over[1]


def test_requests_over_max_concurrency_are_429_and_probes_still_answer(server, records) -> None:
    """BentoML's limit answers 429 (the docs said 503), with Retry-After (paths.retry_later); per pod,
    divided among the workers (one here)."""
    port = server["port"]
    body = json.dumps({"records": records[:1]}).encode()
    deadline = time.monotonic() + 60
    held = hold_every_slot(port, body)
    try:
        while (refused := refused_while_held(port, body, held, deadline)) is None:
            for sock in held:
                sock.close()
            held = hold_every_slot(port, body)
        assert "share of serving.max_concurrency is in flight" in json.loads(refused)["error"]
        for probe in ("/livez", "/readyz"):  # a full worker is busy, not dead: probes skip the limit
            assert raw(port, f"GET {probe} HTTP/1.1\nHost: x\nConnection: close\n")[0] == 200
        assert [read_answer(sock)[0] for sock in held] == [408] * MAX_CONCURRENCY
    finally:
        for sock in held:
            sock.close()
    assert (
        raw(port, head(port, "Content-Type: application/json", f"Content-Length: {len(body)}"), body)[0]
        == 200
    )


def test_the_latency_panels_are_of_predictions_not_of_refusals(server, records) -> None:
    """BentoML's duration histogram holds every /predict answer: a 429 over max_concurrency (ms)
    and the 408 of a body that never came (body_timeout_s) too. The dashboard's quantiles were of
    them all: overloaded (max_concurrency 4, 1,000-row requests, 200 clients), 40% of answers were
    429 and its p50 read 48 ms, the predictions' 73 ms; the more a pod sheds, the faster it looked."""
    port = server["port"]
    body = json.dumps({"records": records[:1]}).encode()
    deadline = time.monotonic() + 60
    held = hold_every_slot(port, body)
    try:
        while refused_while_held(port, body, held, deadline) is None:
            for sock in held:
                sock.close()
            held = hold_every_slot(port, body)
        assert [read_answer(sock)[0] for sock in held] == [408] * MAX_CONCURRENCY
    finally:
        for sock in held:
            sock.close()
    answered = raw(port, head(port, "Content-Type: application/json", f"Content-Length: {len(body)}"), body)
    assert answered[0] == 200, answered
    buckets = [dict(labels) for labels in series(server["url"], f"{DURATION}_bucket")]
    assert {"200", "408", "429"} <= {b["http_response_code"] for b in buckets if b["endpoint"] == "/predict"}
    queries = dashboard_queries(json.loads(DASHBOARD.read_text()))
    latency = {name: expr for name, expr in queries.items() if DURATION in expr}
    assert len(latency) == 3, latency  # p50, p95, p99
    for name, expr in latency.items():
        chosen = [b for b in buckets if selects(expr, f"{DURATION}_bucket", b)]
        assert {(b["endpoint"], b["http_response_code"]) for b in chosen} == {("/predict", "200")}, name


def hold_the_budget(port: int) -> list[socket.socket]:
    """BUDGET_BODIES requests declaring bodies at the cap that never arrive: each holds its
    Content-Length of the worker's budget until its body deadline."""
    held = [
        socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 20)
        for _ in range(BUDGET_BODIES)
    ]
    for sock in held:
        send(sock, head(port, "Content-Type: application/json", f"Content-Length: {CAP}"), b"{")
    return held


def answer_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_body_past_the_workers_budget_is_429_with_retry_after_and_the_bytes_come_back(server) -> None:
    """Through the real server: a request whose Content-Length would take the worker past
    serving.max_body_bytes_in_flight is refused from its head (no byte of its body sent) and told
    when to retry, its connection kept for the rest of the body (it never comes: the server ends
    it); once the held requests are gone, their bytes are free."""
    port = server["port"]
    deadline = time.monotonic() + 60
    while True:
        held = hold_the_budget(port)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 20) as sock:
                send(sock, head(port, "Content-Type: application/json", f"Content-Length: {CAP}"))
                data = answer_until_closed(sock)
        finally:
            for sock in held:
                sock.close()
        if data.startswith(b"HTTP/1.1 429 "):
            break
        # Taken before the held requests were (a loaded machine): its body never came.
        assert data.startswith(b"HTTP/1.1 408 "), data
        assert time.monotonic() < deadline, "never refused"
    head_lines = data.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert b"retry-after: 1" in head_lines and b"connection: close" not in head_lines
    error = json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]
    assert f"from {BUDGET_BODIES * CAP:,} to {(BUDGET_BODIES + 1) * CAP:,} bytes" in error
    assert "over serving.max_body_bytes_in_flight" in error
    # The held clients left (499): their bytes are back, and a body at the cap is read (whitespace: a 400).
    at_cap = head(port, "Content-Type: application/json", f"Content-Length: {CAP}")
    while (status := raw(port, at_cap, b" " * CAP)[0]) == 429:
        assert time.monotonic() < deadline, "the held bytes never came back"
    assert status == 400


def test_unknown_paths_are_404_and_make_no_metric_series(server) -> None:
    """BentoML labels its request metrics with the raw path: 3,000 requests to random paths
    (no token needed) grew /metrics from 8 KB to 13 MB, for the life of the server."""
    url = server["url"]
    with httpx.Client() as client:
        for i in range(50):
            for path in (f"/nope-{i}", f"/static_content/nope-{i}.js", f"/predict/{i}"):
                response = client.get(f"{url}{path}")
                assert response.status_code == 404, (path, response.text)
                assert "/predict" in response.json()["error"]
        assert client.get(f"{url}/").status_code == 200  # BentoML's page and its files still serve
        assert client.get(f"{url}/static_content/index.css").status_code == 200
    for i in range(3):  # a WebSocket handshake is plain HTTP (the service has none): 404 too
        upgrade = [f"GET /ws-nope-{i} HTTP/1.1", "Host: x", "Upgrade: websocket", "Connection: Upgrade"]
        upgrade += ["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""]
        assert raw(server["port"], "\n".join(upgrade))[0] == 404
    text = httpx.get(f"{url}/metrics", headers=auth(METRICS_TOKEN)).text
    assert "nope" not in text and 'endpoint="/predict/' not in text
    assert "Unsupported upgrade" not in server["log"].read_text()  # was a WARNING per request


# --- authentication --------------------------------------------------------------------------------


def test_tokens_guard_predict_metadata_and_metrics_but_not_probes(server, records) -> None:
    url = server["url"]
    body = {"records": records[:1]}
    assert httpx.post(f"{url}/predict", json=body).status_code == 401
    assert httpx.post(f"{url}/predict", json=body, headers=auth("wrong")).status_code == 401
    assert httpx.post(f"{url}/predict", json=body, headers={"authorization": TOKEN}).status_code == 401
    assert httpx.post(f"{url}/predict", json=body, headers=auth("API")).status_code == 401  # a comment's word
    assert httpx.post(f"{url}/predict", json=body, headers=auth()).status_code == 200
    assert httpx.post(f"{url}/metadata", json={}).status_code == 401
    assert httpx.post(f"{url}/metadata", json={}, headers=auth()).status_code == 200
    assert httpx.get(f"{url}/schema.json").status_code == 401  # BentoML's list of routes was open
    assert httpx.get(f"{url}/schema.json", headers=auth()).status_code == 200
    assert httpx.get(f"{url}/metrics", headers=auth()).status_code == 401  # its own token
    assert httpx.get(f"{url}/metrics", headers=auth(METRICS_TOKEN)).status_code == 200
    for probe in ("/livez", "/readyz", "/healthz"):
        assert httpx.get(f"{url}{probe}").status_code == 200
    denied = httpx.post(f"{url}/predict", json=body)
    assert denied.headers["www-authenticate"].startswith("Bearer")


def test_a_rotated_token_file_applies_without_restart(server, records) -> None:
    url, tokens = server["url"], server["tokens"]
    body = {"records": records[:1]}
    tokens.write_text(f"{ROTATED}\n")
    deadline = time.monotonic() + 30
    while httpx.post(f"{url}/predict", json=body, headers=auth(ROTATED)).status_code != 200:
        assert time.monotonic() < deadline, "rotated token not accepted"
        time.sleep(0.3)
    assert httpx.post(f"{url}/predict", json=body, headers=auth(TOKEN)).status_code == 401
    tokens.write_text(f"{TOKEN}\n{ROTATED}\n")
    deadline = time.monotonic() + 30
    while httpx.post(f"{url}/predict", json=body, headers=auth(TOKEN)).status_code != 200:
        assert time.monotonic() < deadline, "restored token not accepted"
        time.sleep(0.3)


def test_the_smoke_test_sends_the_token(server, serving_root) -> None:
    repo = Path(__file__).resolve().parents[2]
    argv = ["mlapp", "--params", serving_root / "params.yaml", "serving", "smoke", "--url", server["url"]]
    argv += ["--model-dir", serving_root / "models", "--timeout", "20"]
    passed = sh(*argv, cwd=repo, check=False, env={"MLAPP_API_TOKEN": TOKEN})
    assert passed.returncode == 0, passed.stderr
    refused = sh(*argv, cwd=repo, check=False, env={"MLAPP_API_TOKEN": ""})
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr and "MLAPP_API_TOKEN" in refused.stderr


def test_a_body_over_the_cap_names_the_settings() -> None:
    """1,000 rows of a 64-feature table, pretty-printed, are over the cap (max_rows x max_row_bytes)
    though within max_rows: the 413 named no setting to change."""
    from mlapp.serving.admission import BodyCap, Refused, check_headers

    headers = [(b"content-type", b"application/json"), (b"content-length", b"1167374")]
    with pytest.raises(Refused) as refused:
        check_headers(headers, BodyCap(1000, 1024, "params.yaml"))
    assert refused.value.message == (
        "body of 1167374 bytes is over the limit of 1024000 bytes (serving.max_rows 1000 x "
        "serving.max_row_bytes 1024 (params.yaml): send fewer rows, or set serving.max_row_bytes "
        "to a larger number)"
    )
