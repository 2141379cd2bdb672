"""A service URL may carry a proxy's basic-auth credentials (``https://user:pass@host``): what
``mlapp serving smoke`` prints (its progress, its failure, a usage error) shows them as ``***``,
since CI logs keep every line. Run through ``main()``, where the one-line errors are written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlapp.serving.local import free_port
from tests.conftest import answering, run_main

PASSWORD = "s3cret-in-the-url"  # noqa: S105 - what must never be printed


@pytest.fixture(scope="module")
def wrong_service() -> Iterator[str]:
    """Healthy, but answers /predict with no predictions: the smoke test gets past its first line."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # /livez, /readyz
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:  # /predict
            body = json.dumps([]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


def with_password(url: str) -> str:
    return url.replace("://", f"://alice:{PASSWORD}@", 1)


def smoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.delenv("MLAPP_API_TOKEN", raising=False)
    code = run_main(monkeypatch, "serving", "smoke", *args)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_failing_smoke_test_shows_the_url_without_its_password(
    serving_root: Path,
    wrong_service: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(serving_root)
    code, out = smoke(monkeypatch, capsys, "--url", with_password(wrong_service), "--timeout", "5")
    assert code == 1, out
    assert "ok   http://***@127.0.0.1" in out  # the URL is still named, its password not
    assert "FAIL predictions differ" in out
    assert PASSWORD not in out


def test_an_unreachable_url_is_named_without_its_password(
    serving_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(serving_root)
    dead = with_password(f"http://127.0.0.1:{free_port()}")
    code, out = smoke(monkeypatch, capsys, "--url", dead, "--timeout", "0.1")
    assert code == 1, out
    assert "not healthy after 0.1 s" in out
    assert PASSWORD not in out


def test_a_usage_error_quotes_the_url_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = smoke(monkeypatch, capsys, "--url", f"ftp://alice:{PASSWORD}@127.0.0.1/")
    assert code == 2, out
    assert "is not a service URL" in out
    assert PASSWORD not in out
