"""The probe port flooded with idle connections: the threaded listener before against the selector one.

    nice -n 10 uv run python benchmarks/probe_flood.py [--rounds 3] [--connections 2000] [--out DIR]

Each system runs as a worker's listener does (``probes.Probes``: the heartbeat on an asyncio
loop, the listener on its thread) in a process of its own, with the params.yaml of its code:
``selector`` is the code here (src/mlapp/serving/probe_listener.py), ``threaded`` the
standard library's ``ThreadingHTTPServer``, a thread per connection, from git revision
``--baseline`` (its ``src/`` and ``params.yaml`` extracted to a temporary folder, first on
``PYTHONPATH``). A flooder process opens ``--connections`` connections to the probe port,
``--half`` of them sending half a request and then a byte every ``--trickle-s`` (slowloris),
the others nothing; a connection the server closes is opened again at once, as an attacker's
would be. After ``--settle-s``, for ``--seconds``, the prober of benchmarks/probes.py
(``probe_watch.Prober``) GETs ``/livez`` and ``/readyz`` every ``--period-s``, each on a new
connection, with infra/base's timeouts (``/livez`` 3 s, ``/readyz`` 1 s), while the
server's threads (``/proc/<pid>/task``) and RSS are sampled every 0.5 s. Systems alternate
within each round (odd rounds selector first). Writes ``probe_flood.json`` to ``--out`` (default
benchmarks/results, the committed run: ``--out .bench`` keeps it): per round and system, threads
and RSS before and under the flood, the server's CPU seconds, connections the flooder opened,
each probe path's p50/p95/max and successes (200 within the timeout); then per system the
medians of the rounds, and the selector/threaded ratios per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE = "eb510fb35534cf398df6501b00cbaecdf0a7f718"  # the last revision with the threaded listener
HALF_REQUEST = b"GET /livez HTTP/1.1\r\nHost: probe\r\nX-Slow: "
SAMPLE_S = 0.5
REPO = Path(__file__).resolve().parents[1]
# The server and the flooder run this file too: they import only what they use (the
# benchmark's helpers import pandas, seconds of start-up), the benchmark imports the rest in main.


def serve(params_file: Path) -> None:
    """A worker's probe listener and heartbeat, as ``service.py`` starts them, until stdin closes."""
    from mlapp.params import load_params
    from mlapp.serving import probes

    serving = load_params(params_file).serving
    with socket.socket() as traffic:  # stands in for the traffic port: /readyz reads its queue
        traffic.bind(("127.0.0.1", 0))
        traffic.listen()
        listener = probes.Probes("127.0.0.1", 0, probes.ListenQueue(traffic.getsockname()[1]), serving)

        async def run() -> None:
            listener.start(asyncio.get_running_loop())
            print(listener.port, probes.__file__, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

        asyncio.run(run())
        listener.stop()


def flood(port: int, connections: int, half: float, trickle_s: float) -> None:
    """Hold ``connections`` open to ``port`` (reopening each one the server closes) until SIGTERM,
    the first ``half`` of them sending half a request and then a byte every ``trickle_s``
    (slowloris); print how many were opened in all."""
    selector, opened, stop = selectors.DefaultSelector(), 0, []
    trickling: dict[int, socket.socket] = {}
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    def open_one(i: int) -> None:
        nonlocal opened
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))  # EINPROGRESS: writable once connected
        selector.register(sock, selectors.EVENT_WRITE, i)
        opened += 1

    def send(i: int, sock: socket.socket, data: bytes) -> None:
        try:
            sock.send(data)
        except OSError:  # closed by the server: readable, reopened below
            trickling.pop(i, None)

    for i in range(connections):
        open_one(i)
    print("flooding", flush=True)
    next_trickle = time.monotonic() + trickle_s
    while not stop:
        for key, mask in selector.select(0.1):
            sock, i = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            if mask & selectors.EVENT_WRITE and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                if i < half * connections:
                    trickling[i] = sock
                    send(i, sock, HALF_REQUEST)
                selector.modify(sock, selectors.EVENT_READ, i)  # readable: closed by the server
                continue
            trickling.pop(i, None)
            selector.unregister(sock)
            sock.close()
            open_one(i)
        if time.monotonic() >= next_trickle:
            next_trickle += trickle_s
            for i, sock in list(trickling.items()):
                send(i, sock, b"x")
    print(json.dumps({"opened": opened, "open_at_end": len(selector.get_map())}), flush=True)


def threads(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())


def flooded(env: dict[str, str], params_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One system: its server, the flooder, the prober; what they saw."""
    from bench_http import cpu_seconds, rss_bytes
    from probe_summary import summary
    from probe_watch import Prober, probe_timeouts

    me = [sys.executable, __file__]
    server = subprocess.Popen(
        [*me, "--serve", str(params_file)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    port, path = server.stdout.readline().split()
    # Which tree the server imported, without this machine's paths: ours or the baseline's checkout.
    module = Path(path).resolve()
    tree = "this tree" if module.is_relative_to(REPO) else "baseline checkout"
    module_name = f"{tree}: {module.relative_to(module.parents[3]).as_posix()}"
    time.sleep(1)  # the interpreter's start-up is over
    before = {"threads": threads(server.pid), "rss_mb": rss_bytes([server.pid]) / 2**20}
    cpu = cpu_seconds([server.pid])
    flooder = subprocess.Popen(
        [*me, "--flood", port, str(args.connections), str(args.half), str(args.trickle_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert flooder.stdout is not None
    flooder.stdout.readline()  # "flooding": every connection is opening
    time.sleep(args.settle_s)
    url, timeouts = f"http://127.0.0.1:{port}", probe_timeouts()
    samples: list[tuple[int, float]] = []
    with Prober({path: url + path for path in timeouts}, args.period_s) as prober:
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            samples.append((threads(server.pid), rss_bytes([server.pid]) / 2**20))
            time.sleep(SAMPLE_S)
    flooder.send_signal(signal.SIGTERM)
    flood_stats = json.loads(flooder.communicate(timeout=60)[0])  # its last line
    cpu = cpu_seconds([server.pid]) - cpu
    server.stdin.close()
    server.wait(timeout=60)
    seen = prober.seen
    probes = {path: success(summary(seen[path], timeouts[path]), seen[path]) for path in timeouts}
    return {
        "module": module_name,
        "before": before,
        "threads_median": statistics.median(t for t, _ in samples),
        "threads_max": max(t for t, _ in samples),
        "rss_mb_median": statistics.median(r for _, r in samples),
        "rss_mb_max": max(r for _, r in samples),
        "server_cpu_s": cpu,
        "flood": flood_stats,
        "probes": probes,
    }


def success(stats: dict[str, Any], seen: list[tuple[float, int]]) -> dict[str, Any]:
    """``stats`` and the share of probes answered 200 within the timeout."""
    ok = sum(status == 200 and took <= stats["timeout_s"] for took, status in seen)
    return {**stats, "ok": ok, "success": ok / max(len(seen), 1)}


def overall(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("threads_max", "threads_median", "rss_mb_max", "rss_mb_median", "server_cpu_s")
    out: dict[str, Any] = {}
    for system in rounds[0]:
        runs = [r[system] for r in rounds]
        out[system] = {key: statistics.median(run[key] for run in runs) for key in keys}
        for path in runs[0]["probes"]:
            seen = [run["probes"][path] for run in runs]
            out[system][path] = {
                "ok": sum(s["ok"] for s in seen),
                "probes": sum(s["probes"] for s in seen),
                "p50_s_per_round": [s["p50_s"] for s in seen],
                "max_s_per_round": [s["max_s"] for s in seen],
            }
    compared = ("threads_max", "rss_mb_max", "server_cpu_s")
    out["ratio_selector_to_threaded"] = {
        key: [r["selector"][key] / max(r["threaded"][key], 1e-9) for r in rounds] for key in compared
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--flood", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--half", type=float, default=0.5, help="share that trickles a request")
    parser.add_argument("--trickle-s", type=float, default=2, help="a byte each this often per half request")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--settle-s", type=float, default=3)
    parser.add_argument("--period-s", type=float, default=0.5)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="folder for probe_flood.json [benchmarks/results: the committed run; --out .bench for a trial]",
    )
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets
    if args.serve:
        serve(args.serve)
        return 0
    if args.flood:
        flood(int(args.flood[0]), int(args.flood[1]), float(args.flood[2]), float(args.flood[3]))
        return 0
    from revisions import extract, result_head, revision, write_result

    head = result_head(Path(__file__).name)  # before the rounds: the load they started under
    old = extract(args.baseline, Path(tempfile.mkdtemp(prefix="probe-flood-")))
    systems = {
        "selector": ({**os.environ, "PYTHONPATH": str(REPO / "src")}, REPO / "params.yaml"),
        "threaded": ({**os.environ, "PYTHONPATH": str(old / "src")}, old / "params.yaml"),
    }
    rounds = []
    for i in range(args.rounds):
        order = ("selector", "threaded") if i % 2 == 0 else ("threaded", "selector")
        rounds.append({name: flooded(*systems[name], args) for name in order})
        for name in order:
            run = rounds[-1][name]
            shown = ", ".join(f"{p} {s['ok']}/{s['probes']} ok" for p, s in run["probes"].items())
            held = f"threads {run['threads_max']}, RSS {run['rss_mb_max']:.0f} MB"
            held += f", CPU {run['server_cpu_s']:.1f} s"
            print(i + 1, name, f"{held}, {shown}", flush=True)
    result = {
        **head,
        "baseline": revision(args.baseline),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "settings": {k: v for k, v in vars(args).items() if k not in ("serve", "flood", "out")},
        "rounds": rounds,
        "overall": overall(rounds),
    }
    write_result(result, args.out / "probe_flood.json")
    print(json.dumps(result["overall"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
