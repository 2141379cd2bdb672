"""What the probe port costs a worker: predictions on one event loop with and without it.

    nice -n 10 uv run python benchmarks/probe_cost.py [--rounds 4] [--seconds 10] [--out DIR]

One process, as a worker: the service class (``ModelService``, the model of ``models/``) scores
a 1,000-row ``/predict`` body again and again on a uvloop event loop (``score_yielding``, as
the endpoint does), for ``--seconds``. System ``probes``: the worker's probe listener runs
(``probes.Probes``: the loop's heartbeat timer, the thread) and another process GETs its
``/livez`` and ``/readyz`` on a new connection each, ``--probes-per-s`` times a second in all
(the kubelet: 0.3 a second; the flood benchmark, benchmarks/probes.py: 2). System ``none``:
no listener (the same prober's connections are refused). Systems alternate within each
round. Writes ``probe_cost.json`` to ``--out`` (default benchmarks/results, the committed run:
``--out .bench`` keeps it): per round and system, bodies scored per second and per CPU-second of
the loop's thread, and the ratio ``probes``/``none`` per round with its spread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import uvloop

from bench_http import REPO, model_missing
from mlapp.serving import PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from revisions import result_head, write_result
from serving_systems import unseen_rows

STARTUP_S = 3.0
PROBER = """
import sys, time, httpx
url, period = sys.argv[1], float(sys.argv[2])
while True:
    for path in ("/livez", "/readyz"):
        try:
            httpx.get(url + path, timeout=10, headers={"connection": "close"})
        except httpx.TransportError:
            pass
        time.sleep(period)
"""


async def score_for(service: Any, body: bytes, seconds: float) -> dict[str, float]:
    done, wall, cpu = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall < seconds:
        await service.score_yielding(body)
        done += 1
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return {"bodies": done, "per_s": done / wall, "per_cpu_s": done / cpu}


async def run(system: str, service: Any, body: bytes, args: argparse.Namespace) -> dict[str, float]:
    from mlapp.serving import probes
    from mlapp.serving.service import SERVING

    port = free_port()
    with socket.socket() as traffic:  # stands in for the traffic port: /readyz reads its queue
        traffic.bind(("127.0.0.1", 0))
        traffic.listen()
        queue = probes.ListenQueue(traffic.getsockname()[1])
        listener = probes.Probes("127.0.0.1", port, queue, SERVING) if system == "probes" else None
        return await probed(listener, port, service, body, args)


async def probed(
    listener: Any, port: int, service: Any, body: bytes, args: argparse.Namespace
) -> dict[str, float]:
    """Both systems run the prober (its process costs a CPU the same); without a listener its
    connections are refused at once."""
    if listener is not None:
        listener.start(asyncio.get_running_loop())
    period = str(1 / args.probes_per_s)
    prober = subprocess.Popen([sys.executable, "-c", PROBER, f"http://127.0.0.1:{port}", period])
    try:
        await asyncio.sleep(STARTUP_S)  # the prober imports httpx first: not within the measure
        return await score_for(service, body, args.seconds)
    finally:
        prober.kill()
        prober.wait()
        if listener is not None:
            listener.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--probes-per-s", type=float, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="folder for probe_cost.json [benchmarks/results: the committed run; --out .bench for a trial]",
    )
    args = parser.parse_args(argv)
    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2
    head = result_head(Path(__file__).name)
    os.chdir(REPO)
    os.environ[PREDICTION_LOG_ENV] = str(Path(tempfile.mkdtemp()) / "predictions.jsonl")
    from mlapp.serving.service import ModelService

    # The plain class (BentoML wraps it, which its stubs do not say): loads the model.
    service: ModelService = cast(Any, ModelService).inner()
    records = json.loads(unseen_rows().to_json(orient="records"))
    body = json.dumps({"records": records[:1000]}).encode()
    rounds = []
    for i in range(args.rounds):
        order = ("none", "probes") if i % 2 == 0 else ("probes", "none")
        rounds.append({system: uvloop.run(run(system, service, body, args)) for system in order})
        print(i + 1, rounds[-1], flush=True)
    ratios = {key: [r["probes"][key] / r["none"][key] for r in rounds] for key in ("per_s", "per_cpu_s")}
    result = {
        **head,
        "cpus_usable": len(os.sched_getaffinity(0)),
        "seconds": args.seconds,
        "probes_per_s": args.probes_per_s,
        "rounds": rounds,
        "ratio_probes_to_none": {
            key: {"median": statistics.median(v), "min": min(v), "max": max(v)} for key, v in ratios.items()
        },
    }
    write_result(result, args.out / "probe_cost.json")
    print(json.dumps(result["ratio_probes_to_none"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
