"""The probe port under a connection flood (probes.py, probe_listener.py): thousands of idle
connections and slow half-requests hold no thread each, cannot keep a fresh probe out (the
oldest waiting connection is dropped for a new one), and wait no longer than the read
deadline; a request line and headers over the size cap, a malformed request and methods other
than GET get a 4xx naming why. The real ``Probes`` object, its heartbeat on an event loop
running on a thread of its own, as a worker's."""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import pytest

from mlapp.serving import heads, probes
from mlapp.serving.local import free_port
from tests.serving.conftest import PARAMS

WAIT_S = 60.0  # generous: only a bound on waiting, never a claim about speed
IDLE = 2_000  # connections that send nothing
HALF = 200  # connections that send half a request and then nothing (slowloris)
MAX_OPEN = 64  # serving.probe_max_connections in these tests
HALF_REQUEST = b"GET /livez HTTP/1.1\r\nHost: probe\r\nX-Slow: "
PADDED = b"GET /livez HTTP/1.1\r\nHost: p\r\nX-Pad: " + b"x" * 2_000
LONG = b"a" * 900  # in a line the parser refuses, under the tests' 1,024-byte cap

Start = Callable[..., tuple[str, int]]


@pytest.fixture
def start_probes(traffic: socket.socket) -> Iterator[Start]:
    """``start(**serving settings)`` starts a real ``probes.Probes`` on a free port and returns its
    URL and port; the heartbeat beats on an event loop that runs on a thread of its own."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="test-worker-loop", daemon=True)
    runner.start()
    started: list[probes.Probes] = []

    async def begin(listener: probes.Probes) -> None:
        listener.start(asyncio.get_running_loop())

    def start(**settings: Any) -> tuple[str, int]:
        serving = PARAMS.serving.model_copy(update={"probe_port": free_port(), **settings})
        queue = probes.ListenQueue(traffic.getsockname()[1])
        listener = probes.Probes("127.0.0.1", serving.probe_port, queue, serving)
        started.append(listener)
        asyncio.run_coroutine_threadsafe(begin(listener), loop).result(WAIT_S)
        return f"http://127.0.0.1:{listener.port}", listener.port

    yield start
    for listener in started:
        listener.stop()
    loop.call_soon_threadsafe(loop.stop)
    runner.join(WAIT_S)
    loop.close()


@pytest.fixture
def descriptors() -> Iterator[None]:
    """Room for the flood's client sockets and the listener's in one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * (IDLE + HALF) + 512
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn) to run the flood")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=WAIT_S, headers={"connection": "close"})


def connect(port: int, send: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    if send:
        sock.sendall(send)
    return sock


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sent until it closed the connection (it must, within WAIT_S)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:  # closed with bytes of ours unread: the kernel resets
        pass
    return received


def held_by_server(port: int) -> int:
    """Connections the listener holds open: this process's sockets whose local port is its port."""
    return sum(
        1
        for c in psutil.Process().net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status != psutil.CONN_LISTEN
    )


def test_a_flood_of_idle_connections_holds_no_thread_each_and_keeps_no_probe_out(
    start_probes: Start, descriptors: None
) -> None:
    url, port = start_probes(probe_max_connections=MAX_OPEN, header_timeout_s=3_600)
    threads = psutil.Process().num_threads()  # the loop's and the listener's among them
    flood = [connect(port) for _ in range(IDLE)] + [connect(port, HALF_REQUEST) for _ in range(HALF)]
    try:
        assert psutil.Process().num_threads() <= threads + 2, "a thread per connection"
        live, ready = get(f"{url}/livez"), get(f"{url}/readyz")
        assert (live.status_code, live.text, ready.status_code) == (200, "live\n", 200)
        assert live.headers["connection"] == "close"
        # The half-requests reach the listener (the silent ones wait in the kernel until they
        # send something, TCP_DEFER_ACCEPT): the oldest were dropped for newer ones (no read
        # deadline within this test's reach).
        assert closed_by_server(flood[IDLE]) == b""
        assert held_by_server(port) <= MAX_OPEN
    finally:
        for sock in flood:
            sock.close()
    assert get(f"{url}/livez").status_code == 200


def test_a_connection_that_does_not_send_its_request_in_time_is_closed(start_probes: Start) -> None:
    """Silent: closed. Half a request: a 408 naming the setting, then closed."""
    _, port = start_probes(header_timeout_s=0.2)
    with connect(port) as silent, connect(port, HALF_REQUEST) as slow:
        assert closed_by_server(silent) == b""
        answer = closed_by_server(slow)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert heads.too_slow(0.2).encode() in answer and b"connection: close" in answer.lower()


@pytest.mark.parametrize(
    ("request_bytes", "status", "names"),
    [
        (PADDED + b"\r\n\r\n", 431, heads.too_large(1024).encode()),  # the traffic port's words
        (PADDED, 431, heads.too_large(1024).encode()),
        # the methods it takes, as the 405 says them: it said GET only once HEAD was answered too
        (
            b"NOT HTTP AT ALL\r\n\r\n",
            400,
            b"malformed HTTP request (illegal request line): this port answers GET and HEAD",
        ),
        # h11 quotes the line it refuses: that line (up to the cap) came back as Python's repr.
        (b"GET /livez\xe9" + LONG + b" HTTP/1.1\r\nHost: p\r\n\r\n", 400, b"(illegal request line):"),
        (b"GET /livez HTTP/1.1\r\nHost: p\r\nX Y" + LONG + b": 1\r\n\r\n", 400, b"(illegal header line):"),
        (b"POST /livez HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\n\r\n", 405, b"GET"),
        (b"GET /predict HTTP/1.1\r\nHost: p\r\n\r\n", 404, b"/livez and /readyz"),
        (b"GET /readyz?verbose=1 HTTP/1.0\r\n\r\n", 200, b"ready"),
        # h11 reads any HTTP/<digit>.<digit>: each was answered 200 as if it were 1.1 (versions.py).
        (b"GET /livez HTTP/2.0\r\nHost: p\r\n\r\n", 505, b"HTTP/2.0 is not supported"),
        (b"GET /livez HTTP/1.2\r\nHost: p\r\n\r\n", 505, b"HTTP/1.2 is not supported"),
        (b"GET /livez HTTP/0.9\r\n\r\n", 505, b"HTTP/0.9 is not supported"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, b"HTTP/2.0 is not supported"),
    ],
    ids=[
        *("header-too-large", "header-too-large-unfinished", "malformed", "bad-request-line"),
        *("bad-header-line", "post", "unknown-path", "http-1.0"),
        *("http-2.0", "http-1.2", "http-0.9", "http-2-preface"),
    ],
)
def test_each_request_gets_one_answer_naming_why_and_the_connection_closes(
    start_probes: Start, request_bytes: bytes, status: int, names: bytes
) -> None:
    _, port = start_probes(max_header_bytes=1024)
    with connect(port, request_bytes) as sock:
        answer = closed_by_server(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer
    assert names in body and b"connection: close" in head.lower()
    assert int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]) == len(body)


def test_head_is_answered_as_get_is_without_its_body(start_probes: Start) -> None:
    """``curl -I`` or a monitor checking with HEAD: the traffic port's /livez answers it, this port
    said 405."""
    _, port = start_probes()
    for path, text in ((b"/livez", b"live\n"), (b"/readyz", b"ready\n")):
        with connect(port, b"HEAD %s HTTP/1.1\r\nHost: p\r\n\r\n" % path) as sock:
            head, _, body = closed_by_server(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == b"", head + body
        assert b"content-length: %d" % len(text) in head.lower() and b"connection: close" in head.lower()


@pytest.mark.parametrize(
    "garbage",
    [
        bytes(range(0x21, 0x7F)) * 2,  # printable, no line end: h11 waits for one
        b"A" * 40,  # longer than any method
        b"GET /livez HTTP/1.1 trailing",
        b"G\xc3\xa9T /livez",
        b"\x89PNG\x0d\x0a"[:4] + b"-random-bytes",
    ],
    ids=["printable", "long-method", "after-version", "non-ascii-method", "binary"],
)
def test_bytes_that_cannot_begin_a_request_line_are_400_without_waiting_for_its_end(
    start_probes: Start, garbage: bytes
) -> None:
    """h11 judges a request line once it ends (or by its first byte): random bytes without a line
    end held the connection until header_timeout_s, here an hour, past WAIT_S."""
    _, port = start_probes(header_timeout_s=3_600)
    with connect(port, garbage) as sock:
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"malformed HTTP request (not an HTTP request line): this port answers GET and HEAD" in answer


def test_a_request_line_arriving_a_byte_at_a_time_is_served(start_probes: Start) -> None:
    """Every prefix of a request line is one that may go on: only the line's end decides."""
    _, port = start_probes(header_timeout_s=3_600)
    with connect(port) as sock:
        for byte in b"GET /livez HTTP/1.1\r\nHost: p\r\n\r\n":
            sock.sendall(bytes([byte]))
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
