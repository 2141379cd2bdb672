"""`mlapp serving smoke` against a service that does not answer in time: one line saying so, with
the seconds waited, never an errno's text or a traceback; a timeout of 0 s is a usage error.

Each server is real and never answers by construction, not by timing: a listening socket whose
accept queue is full (the kernel drops new connections), a listening socket nobody reads from,
and an HTTP server that answers the probes and holds /predict until the test ends. Run through
``main()``, as the console script runs; the tests assert what is said, never durations."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mlapp.delivery import cluster
from mlapp.serving import smoke as checks
from tests.conftest import answering, run_main


def smoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path, url: str, timeout: str
) -> tuple[int, str]:
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLAPP_API_TOKEN", raising=False)
    code = run_main(monkeypatch, "serving", "smoke", "--url", url, "--timeout", timeout)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def full() -> Iterator[str]:
    """A port whose accept queue is full: Linux drops the SYN of each further connection."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10):  # a backlog of 0 holds one
            yield f"http://127.0.0.1:{port}"


@pytest.fixture
def stuck() -> Iterator[str]:
    """Healthy on /livez and /readyz; a POST is held until the test ends."""
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            released.wait()

        def log_message(self, *_args: object) -> None:
            pass

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        try:
            yield url
        finally:
            released.set()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The timeout of every TCP connect the smoke client attempts (httpcore's trace: its own
    retries included), in order: attempts and their settings, not durations."""
    seen: list[float] = []
    made = checks.client

    def trace(name: str, info: dict[str, object]) -> None:
        if name == "connection.connect_tcp.started":
            seen.append(float(info["timeout"]))  # type: ignore[arg-type]

    def traced(request: httpx.Request) -> None:
        request.extensions["trace"] = trace

    def client(url: str, timeout_s: float, token: str | None = None) -> httpx.Client:
        http = made(url, timeout_s, token)
        http.event_hooks["request"].append(traced)
        return http

    monkeypatch.setattr(checks, "client", client)
    return seen


def test_the_timeout_is_a_deadline_for_all_the_connects_not_one_per_retry(
    full: str, connects: list[float]
) -> None:
    """Before: the transport retried the connect (3 retries for 3 s), each given the whole
    timeout: 4 connects of 3 s, 13.7 s in all (the CLI took 16.9 s; 120 s, ~225 s)."""
    with checks.client(full, 3) as http, pytest.raises(checks.SmokeFailure, match="within 3 s"):
        checks.wait_ready(http, 3)
    assert len(connects) == 1 and connects[0] <= 3, connects


def test_a_timeout_of_no_time_is_refused_before_any_request(
    serving_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: "/livez not healthy after 0 s (ConnectError: [Errno 115] Operation now in
    progress)", httpx's connect given no time at all, of a service that may be healthy."""
    code, out = smoke(monkeypatch, capsys, serving_root, "http://127.0.0.1:9", "0")
    assert code == 2, out
    assert "'--timeout': 0: must be more than 0" in out and "image.ready_timeout_s" in out, out


@pytest.mark.parametrize(
    ("server", "why"),
    [("full", "did not accept the connection"), ("silent", "accepted the connection but did not answer")],
)
def test_a_service_that_does_not_answer_is_no_answer_within_the_timeout(
    server: str,
    why: str,
    serving_root: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, of the full one: "not healthy after 0.5 s (ConnectTimeout: timed out)"."""
    url = request.getfixturevalue(server)
    code, out = smoke(monkeypatch, capsys, serving_root, url, "0.5")
    assert code == 1, out
    assert out.strip().splitlines()[-1] == f"FAIL {url}/livez {why} within 0.5 s"


def test_a_prediction_that_never_comes_is_a_failed_smoke_test_not_a_traceback(
    stuck: str, serving_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: httpx's ReadTimeout, a traceback and exit 2 (a bug's), of a service that hangs."""
    code, out = smoke(monkeypatch, capsys, serving_root, stuck, "0.5")
    assert code == 1, out
    assert "Traceback" not in out, out
    assert out.strip().splitlines()[-1] == (
        f"FAIL {stuck}/predict accepted the connection but did not answer within 0.5 s"
    )


def test_delivery_wait_says_no_answer_of_a_service_that_never_takes_the_connection(
    full: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlapp delivery wait` asks through the smoke client: before, "not reachable (ConnectTimeout:
    timed out)" on each of its lines."""
    monkeypatch.setattr(cluster, "ASK_S", 0.5)  # each request's bound (10 s), short here
    assert cluster.served_version(full, time.monotonic() + 60) == (
        None,
        f"{full} did not accept the connection within 0.5 s",
    )


def test_delivery_wait_asks_once_within_what_is_left_of_its_deadline(
    full: str, connects: list[float]
) -> None:
    """Before: each look retried the connect 5 times at ASK_S (10 s) each, 67.5 s past a deadline."""
    assert cluster.served_version(full, time.monotonic() + 0.3)[0] is None
    assert len(connects) == 1 and connects[0] <= 0.3, connects
