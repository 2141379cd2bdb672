"""A known path asked with another method is a JSON 405 naming the allowed ones (``paths.json_405``),
here on a small Starlette app; every route of the real server: ``test_server.py``."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

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
