"""A known path asked with another method is a JSON 405 naming the allowed ones (``paths.json_405``),
here on a small Starlette app; every route of the real server: ``test_server.py``. And BentoML's
429 for ``serving.max_concurrency`` says when to retry and is counted (``paths.retry_later``)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlapp.serving.admission import RETRY_AFTER_S
from mlapp.serving.paths import KnownPaths


async def plain(_request: Request) -> Response:
    return PlainTextResponse("# metrics\n")


async def own_405(_request: Request) -> Response:
    return JSONResponse({"error": "its own words"}, status_code=405, headers={"allow": "POST"})


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/metrics", plain), Route("/metadata", plain, methods=["GET", "POST"]),
                            Route("/predict", own_405, methods=["GET"])])  # fmt: skip
    counted: list[int] = []
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=KnownPaths(app, lambda s, _: counted.append(s))),
        base_url="http://t",
    )


@pytest.mark.anyio
async def test_a_plain_text_405_becomes_json_with_the_allowed_methods() -> None:
    async with _client() as client:
        refused = await client.post("/metrics")
        assert refused.status_code == 405 and refused.headers["content-type"] == "application/json"
        assert refused.json() == {"error": "method POST is not allowed on /metrics (allowed: GET, HEAD)"}
        assert int(refused.headers["content-length"]) == len(refused.content)
        assert sorted(refused.headers["allow"].split(", ")) == ["GET", "HEAD"]  # kept as Starlette says
        put = await client.put("/metadata")
        assert put.json() == {"error": "method PUT is not allowed on /metadata (allowed: GET, HEAD, POST)"}
        assert (await client.get("/metrics")).text == "# metrics\n"  # other answers untouched
        assert (await client.get("/predict")).json() == {"error": "its own words"}  # JSON already


@pytest.mark.anyio
async def test_bentoml_429_over_max_concurrency_says_when_to_retry_and_is_counted() -> None:
    """BentoML's own middleware with no slot free: its 429 said "Too many requests", no
    Retry-After (the body budget's 429 has one), and was not counted in mlapp_rejections_total."""
    from bentoml._internal.server.http.traffic import MaxConcurrencyMiddleware

    budget_429 = JSONResponse({"error": "budget"}, status_code=429, headers={"retry-after": "1"})
    app = Starlette(routes=[Route("/metadata", plain), Route("/predict", lambda _r: budget_429)])
    counted: list[tuple[int, set[tuple[str, str]]]] = []
    full = KnownPaths(MaxConcurrencyMiddleware(app, max_concurrency=0), lambda s, f: counted.append((s, f)))
    free = KnownPaths(app, lambda s, f: counted.append((s, f)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=full), base_url="http://t") as client:
        for path in ("/predict", "/metadata"):
            busy = await client.post(path)
            assert busy.status_code == 429 and busy.headers["retry-after"] == str(RETRY_AFTER_S)
            assert "serving.max_concurrency" in busy.json()["error"], busy.text
            assert int(busy.headers["content-length"]) == len(busy.content)
    assert counted == [(429, {("request", "max_concurrency")})] * 2
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=free), base_url="http://t") as client:
        kept = await client.get("/predict")  # a 429 with its own Retry-After passes as it is
        assert kept.json() == {"error": "budget"} and kept.headers["retry-after"] == "1"
    assert len(counted) == 2
