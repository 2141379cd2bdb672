"""The probe port sent random bytes: how long each connection is held, the code here against ``--baseline``.

    nice -n 10 uv run python benchmarks/probe_garbage.py [--rounds 3] [--connections 200] [--out DIR]

Each system runs a worker's probe listener and heartbeat in a process of its own, as
benchmarks/probe_flood.py does (its ``--serve``), with the params.yaml of its code: ``current``
is this checkout's ``src/``, ``baseline`` the ``src/`` of git revision ``--baseline`` extracted to
a temporary folder, first on ``PYTHONPATH``. ``--connections`` connections (fewer than
``serving.probe_max_connections``: none is closed to make room) each send ``--bytes`` random bytes
with no line end (``\\r`` and ``\\n`` redrawn: with one, h11 refused the line at once before too),
the same bytes for both systems, and wait for the server to close them, for at most ``--wait-s``.
Systems alternate within each round (odd rounds current first). Writes ``probe_garbage.json`` to
``--out`` (default benchmarks/results, the committed run; ``--out .bench`` keeps it): per round and
system the seconds until each connection was closed (median, max), how many were still held after
1 s and after 5 s, and what the first answer began with; then per system the medians over rounds
and the current/baseline ratio of the median hold per round.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE = "679d7c5"  # before the probe port refused bytes that cannot begin a request line
REPO = Path(__file__).resolve().parents[1]
FLOOD = Path(__file__).with_name("probe_flood.py")


def garbage(count: int, size: int, seed: int) -> list[bytes]:
    draw = random.Random(seed)  # noqa: S311 - the same bytes every run, not a secret
    out = []
    for _ in range(count):
        data = bytearray(draw.randbytes(size))
        for i, byte in enumerate(data):
            while byte in b"\r\n":
                byte = draw.randrange(256)
            data[i] = byte
        out.append(bytes(data))
    return out


def held(port: int, payloads: list[bytes], wait_s: float) -> dict[str, Any]:
    """Send each payload on a connection of its own; the seconds until the server closed each."""
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    first: dict[int, bytes] = {}
    for i, payload in enumerate(payloads):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(payload)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, i)
    closed: dict[int, float] = {}
    while selector.get_map() and (now := time.monotonic()) - start < wait_s:
        for key, _ in selector.select(max(wait_s - (now - start), 0.01)):
            conn, i = key.fileobj, key.data
            assert isinstance(conn, socket.socket)
            try:
                data = conn.recv(65536)
            except OSError:  # reset: closed with our bytes unread
                data = b""
            if data:
                first.setdefault(i, data[:12])
                continue
            closed[i] = time.monotonic() - start
            selector.unregister(conn)
            conn.close()
    for key in list(selector.get_map().values()):
        assert isinstance(key.fileobj, socket.socket)
        key.fileobj.close()
    seconds = [closed.get(i, wait_s) for i in range(len(payloads))]
    answers: dict[str, int] = {}
    for i in range(len(payloads)):
        begun = first.get(i, b"(none)").decode("latin-1")
        answers[begun] = answers.get(begun, 0) + 1
    return {
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "held_after_1s": sum(s > 1 for s in seconds),
        "held_after_5s": sum(s > 5 for s in seconds),
        "still_open_at_wait_s": len(payloads) - len(closed),
        "answers": answers,
    }


def run(env: dict[str, str], params_file: Path, payloads: list[bytes], wait_s: float) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, str(FLOOD), "--serve", str(params_file)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline().split()[0])
    try:
        return held(port, payloads, wait_s)
    finally:
        server.stdin.close()
        server.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--bytes", type=int, default=64)
    parser.add_argument("--wait-s", type=float, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    from revisions import extract, result_head, revision, write_result

    head = result_head(Path(__file__).name)
    old = extract(args.baseline, Path(tempfile.mkdtemp(prefix="probe-garbage-")))
    systems = {
        "current": ({**os.environ, "PYTHONPATH": str(REPO / "src")}, REPO / "params.yaml"),
        "baseline": ({**os.environ, "PYTHONPATH": str(old / "src")}, old / "params.yaml"),
    }
    payloads = garbage(args.connections, args.bytes, args.seed)
    rounds = []
    for i in range(args.rounds):
        order = ("current", "baseline") if i % 2 == 0 else ("baseline", "current")
        rounds.append({name: run(*systems[name], payloads, args.wait_s) for name in order})
        print(i + 1, {name: rounds[-1][name]["median_s"] for name in order}, flush=True)
    overall: dict[str, Any] = {
        name: {
            key: statistics.median(r[name][key] for r in rounds)
            for key in ("median_s", "max_s", "held_after_1s", "held_after_5s")
        }
        for name in systems
    }
    ratios = [r["current"]["median_s"] / r["baseline"]["median_s"] for r in rounds]
    overall["current_over_baseline_median_s"] = {"median": statistics.median(ratios), "per_round": ratios}
    result = {
        **head,
        "baseline": revision(args.baseline),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "rounds": rounds,
        "overall": overall,
    }
    write_result(result, args.out / "probe_garbage.json")
    print(json.dumps(overall, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
