"""`connect`'s line for a server that answers every try with an error status counts the tries it
made: a real HTTP server answering 503 to every request, its requests counted."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlapp import tracking
from mlapp.errors import TrackingUnavailable
from mlapp.params import load_params
from mlapp.tracking_timeouts import RETRIES

PARAMS = Path(__file__).parents[2] / "params.yaml"


@pytest.fixture
def unavailable() -> Iterator[tuple[str, list[str]]]:
    """A server answering 503 to every request, and the requests it got."""
    requests: list[str] = []

    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Unavailable) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
        server.shutdown()


@pytest.mark.parametrize("retries", ["0", "1"])
def test_the_tries_said_are_the_tries_made(
    retries: str, unavailable: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "on each of 2 tries" after 3: the first probe, then MLflow's call and its retries."""
    url, requests = unavailable
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv(RETRIES, retries)  # backoffs of 0 s for a first retry: no wait
    with pytest.raises(TrackingUnavailable) as refused:
        tracking.connect(load_params(PARAMS).mlflow)
    said = re.search(r"on each of (\d+) tries", str(refused.value))
    assert said is not None, refused.value
    assert int(said[1]) == len(requests) == int(retries) + 2
