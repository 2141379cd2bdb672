"""How many passes of a busy event loop it takes to accept connections queued at once.

    uv run python benchmarks/accept.py [--connections 200] [--work-ms 10] [--out benchmarks/results]

A server on each loop (uvloop, which uvicorn picks when it is installed, and asyncio's own)
while a callback does ``--work-ms`` of work per pass (as predictions do under a flood);
``--connections`` clients connect at once. Writes ``accept.json``: passes until all were
accepted, per loop. A health probe queued behind them waits that many passes
(docs/serving.md, "Health probes under overload").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import uvloop

from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]


async def passes_to_accept(connections: int, work_s: float) -> int:
    loop = asyncio.get_running_loop()
    accepted: list[object] = []

    class Counted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)

    server = await loop.create_server(Counted, "127.0.0.1", 0, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    passes = 0

    def busy() -> None:
        nonlocal passes
        passes += 1
        time.sleep(work_s)  # a pass that does work, as one with predictions in flight
        loop.call_soon(busy)

    loop.call_soon(busy)
    clients = []
    for _ in range(connections):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # non-blocking: the handshake completes later
            client.connect(("127.0.0.1", port))
        clients.append(client)
    start = passes
    while len(accepted) < connections and passes - start < 10 * connections:
        await asyncio.sleep(0)
    for client in clients:
        client.close()
    server.close()
    return passes - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--work-ms", type=float, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    runners: dict[str, Callable[..., int]] = {"uvloop": uvloop.run, "asyncio": asyncio.run}
    result = {
        **result_head(Path(__file__).name),
        "connections": args.connections,
        "work_ms_per_pass": args.work_ms,
        "uvloop_version": uvloop.__version__,
        "passes_to_accept_all": {
            name: run(passes_to_accept(args.connections, args.work_ms / 1000))
            for name, run in runners.items()
        },
    }
    write_result(result, args.out / "accept.json")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
