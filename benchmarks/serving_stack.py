"""Where our service's extra CPU per request goes: the ASGI stacks side by side, in one process.

    uv run python benchmarks/serving_stack.py [--out .bench] [--rounds 5] [--requests 2000]

``make bench-serve`` measures whole servers under wrk; this isolates the frameworks. One
process (same heap, same libraries, no sockets, no uvicorn) sends the same ``/predict`` body
(1 and 100 rows) straight into three ASGI apps:
- ``fastapi``: benchmarks/serving_fastapi.py ``same_app``, our parser and predict behind FastAPI;
- ``bentoml``: our service's app as BentoML's worker builds it (``service.to_asgi``), with
  prometheus_client in multiprocess mode as in a worker;
- ``bentoml-bare``: the same app without BentoML's own per-request middlewares (request
  metrics, OpenTelemetry, traffic timeout (timeout.py's, in its place), max concurrency,
  request context); ours stay (auth, model headers) and so does the whole request path
  (admission, validation, predict, model metrics, prediction log).
Systems alternate within each round; the figure is process CPU time per request (the
prediction log's thread included). Writes ``serving_stack.json``: per round and system, and
the ratios per round with their spread (requests per CPU-second relative to ``bentoml``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlapp.serving import PREDICTION_LOG_ENV

BENTOML_MIDDLEWARES = {
    "RunnerTrafficMetricsMiddleware",
    "OpenTelemetryMiddleware",
    "TimeoutMiddleware",
    "MaxConcurrencyMiddleware",
    "ContextMiddleware",
}
SYSTEMS = ("fastapi", "bentoml", "bentoml-bare")


def bentoml_own(middleware: type) -> bool:
    """One of BentoML's per-request middlewares, or a subclass of one installed in its place
    (timeout.py's ``CancelledTimeout``): matched by name alone, the bare app kept BentoML's
    request timeout and its task per request, counted as our request path's cost."""
    return any(cls.__name__ in BENTOML_MIDDLEWARES for cls in middleware.__mro__)


def scope_for(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 3000),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:3000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def request(app: Any, scope: dict[str, Any], body: bytes) -> int:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays: never a disconnect
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(dict(scope), receive, send)
    return status[0]


async def start(app: Any) -> asyncio.Task[None]:
    """Run the app's lifespan startup (the service's ``__init__``: model, metrics, log); keep
    the task: once it is collected, the service shuts down."""
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message)
        started.set()

    lifespan = asyncio.get_running_loop().create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, queue.get, send)
    )
    await started.wait()
    return lifespan


async def apps() -> dict[str, Any]:
    from bentoml._internal.context import server_context

    from mlapp.serving.service import service
    from serving_fastapi import same_app

    server_context.service_type = "entry_service"  # as BentoML's worker sets it
    server_context.service_name = service.name
    bento = service.to_asgi(is_main=True)
    lifespan = await start(bento)
    full = bento.middleware_stack  # built by the lifespan call: BentoML's metrics register once
    bento.user_middleware = [m for m in bento.user_middleware if not bentoml_own(m.cls)]
    bare = bento.build_middleware_stack()

    async def with_app(stack: Any, scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = bento  # what Starlette.__call__ adds before its stack
        await stack(scope, receive, send)

    return {
        "lifespan": lifespan,
        "fastapi": same_app,
        "bentoml": lambda *a: with_app(full, *a),
        "bentoml-bare": lambda *a: with_app(bare, *a),
    }


async def measure(rounds: int, requests: int, bodies: dict[int, bytes]) -> list[dict[str, Any]]:
    systems = await apps()
    results = []
    for n in range(rounds):
        order = SYSTEMS if n % 2 == 0 else SYSTEMS[::-1]
        result: dict[str, Any] = {"loadavg": os.getloadavg()[0]}
        for system in order:
            result[system] = {}
            for rows, body in bodies.items():
                scope = scope_for(body)
                for _ in range(requests // 10):  # warm-up
                    assert await request(systems[system], scope, body) == 200
                cpu = time.process_time()
                for _ in range(requests):
                    await request(systems[system], scope, body)
                result[system][str(rows)] = (time.process_time() - cpu) / requests * 1000
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rows in results[0]["bentoml"]:  # the row counts measured ("1", "100")
        for system in ("fastapi", "bentoml-bare"):
            ratios = [r[system][rows] / r["bentoml"][rows] for r in results]  # bentoml's req/CPU-s relative
            out[f"bentoml_vs_{system}_{rows}_rows"] = {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            }
        out[f"ms_per_request_{rows}_rows"] = {
            system: statistics.median(r[system][rows] for r in results) for system in SYSTEMS
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    # Before any import: the metrics files and the prediction log (written: it is part of the
    # request path) go to this run's folder, never to the project's logs/ that monitoring reads.
    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    (work / "metrics").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    os.environ[PREDICTION_LOG_ENV] = str(work / "predictions.jsonl")
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_http import model_missing
    from revisions import result_head, write_result
    from serving_load import ROWS
    from serving_systems import unseen_rows

    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2

    head = result_head(Path(__file__).name)
    records = json.loads(unseen_rows().to_json(orient="records"))
    bodies = {rows: json.dumps({"records": records[:rows]}).encode() for rows in ROWS}
    results = asyncio.run(measure(args.rounds, args.requests, bodies))
    report = {**head, "rounds": results, "summary": summary(results)}
    write_result(report, args.out / "serving_stack.json")
    print(json.dumps(report["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
