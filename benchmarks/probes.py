"""Health probes while the service is flooded: /livez and /readyz against infra/base's probe timeouts.

    nice -n 10 uv run python benchmarks/probes.py [--baseline REF] [--slices 50,150] [--loops asyncio]
        [--wave N] [--rounds 2] [--out DIR]

One server at a time (``mlapp serving serve``, ``serving.workers`` as params.yaml says: ``auto``
is the CPUs here, the CPU limit in a pod), flooded by wrk (benchmarks/bench_http.py):
``--connections`` connections, each sending a 1,000-row ``/predict`` again as soon as it is
answered (a 429 over ``max_concurrency`` included), for ``--flood-s`` seconds. Meanwhile one
prober per path GETs ``/livez`` and ``/readyz`` every ``--period-s``, each on a new connection
as the kubelet does, and records how long each answer took (no answer within
``PROBE_WAIT_S`` counts as that). A system whose params.yaml has ``serving.probe_port`` (the
probe listener of each worker, src/mlapp/serving/probes.py) is probed there too, at the same
time: ``probe port /livez`` and ``probe port /readyz``, a free port per run. After the flood:
seconds until ``/readyz`` (the probe port's when there is one) answers within its timeout
again. Timeouts are read from infra/base/deployment.yaml (1 s when a probe sets none, the
Kubernetes default). Each probe that is not a 200 is kept with when it was sent (seconds
since the flood began) and the reason its answer gives (``/readyz`` names the rule that
failed: a lagging loop, or connections waiting to be accepted); and the traffic port's accept
queue is sampled every ``--queue-period-s`` (``/proc/net/tcp``: for a listening socket its
``rx_queue`` is the kernel's ``sk_ack_backlog``, the number ``/readyz`` reads through
``TCP_INFO``).

``--wave N`` adds a second flood of N connections ``--wave-at-s`` into the first, until its end:
its connections all arrive while the workers are busy, and queue (a flood's opening burst on an
idle server is accepted or not depending on how fast wrk connects). The wave is
benchmarks/joining.py, not wrk (it was wrk for ``probes-backlog*.json``): it sends as wrk does
and records when each of its connections was first answered and first answered 200 (``wave``:
all, median and 90th percentile, seconds since the wave began). The kernel's
``ListenOverflows`` and ``ListenDrops`` counters (all sockets) are read before and after each
flood: a listen queue at its bound (BentoML's ``api_server.backlog``, 2048, capped by
``net.core.somaxconn``) drops connections, and only then would a larger backlog matter. The
traffic port's connections held by each worker are counted every ``WORKER_SAMPLE_S`` (how the
kernel and the loops spread them).

``--loops asyncio`` adds the current code with uvicorn's ``auto`` loop made asyncio's own
(a ``sitecustomize`` first on ``PYTHONPATH`` sets ``uvicorn.config.LOOP_FACTORIES``; the
workers are forks of the server process, so they inherit it) to the alternation: asyncio
accepts up to ``backlog`` connections per readiness event where uvloop (libuv >= 1.45)
accepts one.

``--baseline REF`` runs the same flood against the service of git revision REF too (its
``src/`` and ``params.yaml`` extracted to a temporary folder, that ``src/`` first on
``PYTHONPATH``), alternating: odd rounds current then REF, even rounds REF then current.
``--slices`` adds the current code with other ``serving.loop_slice_ms`` values to the same
alternation.
Writes ``--name`` (``probes.json``) to ``--out`` (default ``benchmarks/results``, committed:
docs/serving.md quotes it; ``probes-one-cpu.json`` is the run under ``taskset -c 1``;
``probes-backlog.json`` (``--wave 100``) and ``probes-backlog-wave600.json`` (``--wave 600``) the
readiness rule's, against main; ``probes-loop-wave600.json`` (``--loops asyncio --wave 600
--connections 300 --flood-s 50 --rounds 4``) and ``probes-loop-steady.json`` (``--loops asyncio
--connections 300 --flood-s 30 --rounds 4``) the two event loops'): per round
and system, each probe's p50/p95/max, count over its timeout and latencies, the medians of all
rounds, wrk's numbers, the server's ``/predict`` answers by status and CPU time, the load averages;
per system, the kubelet's ``/readyz`` not-200s, ``/predict`` 200s and 429s per flood with their
median and range. ``--ports 3100-3199`` takes the servers' ports from a range (else any free one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_http import (
    REPO,
    cpu_seconds,
    finish,
    group_pids,
    lua,
    model_missing,
    raw_request,
    running,
    wrk_background,
    wrk_missing,
)
from mlapp.serving import PREDICTION_LOG_ENV
from probe_summary import line, overall, queue_summary, summary, targets, timeout_of, wave_summary
from probe_systems import LOOP_FACTORY, port_picker, systems, with_probe_port
from probe_watch import Prober, answers, listen_drops, probe_timeouts, recovery_s
from revisions import result_head, revision, write_result
from serving_systems import unseen_rows


def joining(url: str, request: Path, connections: int, seconds: float) -> subprocess.Popen[str]:
    """benchmarks/joining.py against ``url``: ``connections`` at once, for ``seconds``."""
    argv = [sys.executable, str(REPO / "benchmarks" / "joining.py"), url, str(request)]
    argv += ["--connections", str(connections), "--seconds", str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def flood(
    url: str,
    probe_url: str | None,
    leader: int,
    script: Path,
    request: Path,
    args: argparse.Namespace,
    timeouts: dict[str, float],
) -> dict[str, Any]:
    load_before, pids = os.getloadavg()[0], group_pids(leader)
    cpu, drops = cpu_seconds(pids), listen_drops()
    port = int(url.rsplit(":", 1)[1])
    with Prober(targets(url, probe_url), args.period_s, port, args.queue_period_s, pids) as prober:
        wrk = wrk_background(url + "/predict", script, args.connections, args.flood_s)
        wave = None
        if args.wave:  # a second flood that comes while the first keeps the workers busy
            time.sleep(args.wave_at_s)
            wave = joining(url + "/predict", request, args.wave, args.flood_s - args.wave_at_s)
        run = finish(wrk)
        wave_run = wave_summary(wave.communicate(timeout=120)[0], args.wave_at_s) if wave else None
    flood_cpu = cpu_seconds(pids) - cpu
    dropped = {key: value - drops.get(key, 0) for key, value in listen_drops().items()}
    after = recovery_s(probe_url or url, timeouts["/readyz"])  # the port the kubelet asks
    probes = {
        p: summary(s, timeout_of(p, timeouts)) | {"not_200_at": prober.not_ready[p]}
        for p, s in prober.seen.items()
    }
    return {
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg()[0],
        "probes": probes,
        "accept_queue": queue_summary(prober.queue),
        "readyz_recovered_s": after,
        "flood": vars(run),
        "wave": wave_run,
        "listen_dropped": dropped,  # the kernel's counters over the flood (every socket on the machine)
        "worker_connections": prober.workers,
        "server_cpu_s": flood_cpu,  # the server's processes, during the flood
        "predict_answers": answers(url),  # after the flood: requests in flight then finished too
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="folder for the JSON [benchmarks/results]",
    )
    parser.add_argument("--name", default="probes.json", help="its file name [probes.json]")
    parser.add_argument("--baseline", help="git revision to compare with, alternating (e.g. main)")
    parser.add_argument(
        "--slices",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[],
        help="also run the current code with these serving.loop_slice_ms values, e.g. 50,150",
    )
    parser.add_argument(
        "--loops",
        type=lambda text: text.split(","),
        default=[],
        help=f"also run the current code on these event loops ({', '.join(LOOP_FACTORY)}) [none]",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds [2]")
    parser.add_argument("--flood-s", type=float, default=20, help="seconds of flood per run [20]")
    parser.add_argument("--connections", type=int, default=600, help="flood connections [600]")
    parser.add_argument("--rows", type=int, default=1000, help="rows per flood request [1000]")
    parser.add_argument("--period-s", type=float, default=1.0, help="seconds between probes [1]")
    parser.add_argument(
        "--queue-period-s", type=float, default=0.25, help="seconds between accept-queue samples [0.25]"
    )
    parser.add_argument(
        "--wave", type=int, default=0, help="connections of a second flood, joining at --wave-at-s [none]"
    )
    parser.add_argument("--wave-at-s", type=float, default=4.0, help="seconds into the flood [4]")
    parser.add_argument("--ports", help="take the servers' ports from this range, e.g. 3100-3199")
    args = parser.parse_args(argv)
    pick = port_picker(args.ports)
    if missing := wrk_missing() or model_missing():
        print(missing, file=sys.stderr)
        return 2
    timeouts = probe_timeouts()
    head = result_head(Path(__file__).name)  # before the rounds: the load they started under
    with tempfile.TemporaryDirectory(prefix="bench-probes-") as tmp:
        work = Path(tmp)
        records = json.loads(unseen_rows().to_json(orient="records"))
        body = json.dumps({"records": (records * (args.rows // len(records) + 1))[: args.rows]})
        request = raw_request("/predict", body, ["Content-Type: application/json"])
        script = lua(work / "flood.lua", [request])
        (request_file := work / "request.http").write_text(request)
        compared = systems(args, work)  # name: its PYTHONPATH (its src/ first) and params.yaml
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            current: dict[str, Any] = {}
            for name, (pythonpath, system_params) in list(compared.items())[:: 1 if i % 2 == 0 else -1]:
                port = pick()
                params_file, probe_url = with_probe_port(system_params, work / f"params-{port}.yaml", pick)
                env = {
                    "PYTHONPATH": pythonpath,
                    "BENTOML_HOME": str(work / f"bentoml-{port}"),
                    PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
                    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
                }
                serve = [sys.executable, "-m", "mlapp", "--params", str(params_file), "serving", "serve"]
                url = f"http://127.0.0.1:{port}"
                print(f"round {i + 1}: {name} ...", flush=True)
                logs = REPO / ".bench" / "serving-logs"
                with running("probes", [*serve, "--port", str(port)], url + "/readyz", env, logs) as proc:
                    current[name] = flood(url, probe_url, proc.pid, script, request_file, args, timeouts)
                print(line(current[name]), flush=True)
            rounds.append(current)
    result = {
        **head,
        "cpus_usable": len(os.sched_getaffinity(0)),  # `taskset -c 1 ...`: server, wrk and prober on one
        "flood": {"connections": args.connections, "rows": args.rows, "seconds": args.flood_s},
        "wave": {"connections": args.wave, "at_s": args.wave_at_s} if args.wave else None,
        "probe_period_s": args.period_s,
        "baseline": args.baseline and f"{args.baseline} ({revision(args.baseline)})",
        "rounds": rounds,
        "by_system": {name: overall([r[name] for r in rounds]) for name in compared},
    }
    write_result(result, args.out / args.name)
    print(json.dumps(result["by_system"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
