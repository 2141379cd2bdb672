"""Connections that join a server at once: when each is first answered, and first answered 200.

    uv run python benchmarks/joining.py URL REQUEST_FILE --connections 600 --seconds 12

``--connections`` connections are opened at once to URL's host and port; each sends the raw
HTTP request in REQUEST_FILE, and again as soon as it is answered (whatever the status, as wrk
does: a 429 is sent again at once), until ``--seconds`` have passed; a connection the server
closes is opened again. wrk says how many answers came but not when each connection got its
first, which is what a listen queue delays (benchmarks/probes.py ``--wave``). Prints JSON:
per connection, seconds from the start until its first answer and its first 200 (null: none
within the run), answers by status, connections the server closed, and this client's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import uvloop


async def answer_status(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 answer whole: its status, and whether the server closes after it."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
    status = int(head[0].split()[1])
    fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
    fields = {name.strip(): value.strip() for name, value in fields.items()}
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")  # the empty trailer
    return status, fields.get("connection") == "close"


class Joining:
    """The connections' first answers (seconds since ``start``) and every answer's status."""

    def __init__(self, host: str, port: int, request: bytes, connections: int) -> None:
        self.host, self.port, self.request = host, port, request
        self.first: list[float | None] = [None] * connections
        self.first_ok: list[float | None] = [None] * connections
        self.statuses: Counter[int] = Counter()
        self.closed = 0
        self.start = time.monotonic()

    async def connection(self, i: int) -> None:
        while True:  # until cancelled at the end of the run
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.closed += 1
                await asyncio.sleep(0.1)
                continue
            try:
                closing = False
                while not closing:
                    writer.write(self.request)
                    status, closing = await answer_status(reader)
                    now = time.monotonic() - self.start
                    self.statuses[status] += 1
                    self.first[i] = self.first[i] if self.first[i] is not None else now
                    if status == 200 and self.first_ok[i] is None:
                        self.first_ok[i] = now
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()
            self.closed += 1

    async def run(self, seconds: float) -> None:
        self.start = time.monotonic()
        tasks = [asyncio.create_task(self.connection(i)) for i in range(len(self.first))]
        await asyncio.wait(tasks, timeout=seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("request", type=Path, help="a file holding the raw HTTP request")
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args(argv)
    where = urlsplit(args.url)
    joining = Joining(
        where.hostname or "127.0.0.1", where.port or 80, args.request.read_bytes(), args.connections
    )
    uvloop.run(joining.run(args.seconds))
    result = {
        "connections": args.connections,
        "seconds": args.seconds,
        "first_answer_s": [None if t is None else round(t, 3) for t in joining.first],
        "first_200_s": [None if t is None else round(t, 3) for t in joining.first_ok],
        "answers": {str(k): v for k, v in sorted(joining.statuses.items())},
        "closed_by_server": joining.closed,
        "client_cpu_s": round(time.process_time(), 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
