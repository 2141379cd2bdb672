"""Health probes while the service is flooded: /livez and /readyz against infra/base's probe timeouts.

    nice -n 10 uv run python benchmarks/probes.py [--baseline REF] [--slices 50,150] [--rounds 2] [--out DIR]

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
Kubernetes default).

``--baseline REF`` runs the same flood against the service of git revision REF too (its
``src/`` and ``params.yaml`` extracted to a temporary folder, that ``src/`` first on
``PYTHONPATH``), alternating: odd rounds current then REF, even rounds REF then current.
``--slices`` adds the current code with other ``serving.loop_slice_ms`` values to the same
alternation.
Writes ``--name`` (``probes.json``) to ``--out`` (default ``benchmarks/results``, committed:
docs/serving.md quotes it; ``probes-one-cpu.json`` is the run under ``taskset -c 1``): per round
and system, each probe's p50/p95/max, count over its timeout and latencies, the medians of all
rounds, wrk's numbers, the server's ``/predict`` answers by status and CPU time, the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

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
from mlapp.serving.local import free_port
from serving import unseen_rows

PROBES = ("/livez", "/readyz")
PROBE_PORT = "probe port "  # the prefix of the probe port's series
PROBE_WAIT_S = 60.0  # a probe still unanswered after this is recorded as this
DEFAULT_TIMEOUT_S = 1.0  # Kubernetes' timeoutSeconds when a probe sets none


def probe_timeouts(deployment: Path = REPO / "infra" / "base" / "deployment.yaml") -> dict[str, float]:
    spec = yaml.safe_load(deployment.read_text())["spec"]["template"]["spec"]["containers"][0]
    return {
        probe["httpGet"]["path"]: float(probe.get("timeoutSeconds", DEFAULT_TIMEOUT_S))
        for probe in (spec["livenessProbe"], spec["readinessProbe"])
    }


def probe_once(url: str) -> tuple[float, int]:
    start = time.monotonic()
    try:
        status = httpx.get(url, timeout=PROBE_WAIT_S, headers={"connection": "close"}).status_code
    except httpx.TransportError:
        status = 0
    return time.monotonic() - start, status


class Prober:
    """One thread per probe (name: its URL), a probe every ``period_s`` (or right after a slower
    one), like the kubelet."""

    def __init__(self, urls: dict[str, str], period_s: float) -> None:
        self.urls, self.period_s = urls, period_s
        self.seen: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.loop, args=(name,), daemon=True) for name in urls]

    def loop(self, name: str) -> None:
        while not self.stop.is_set():
            took, status = probe_once(self.urls[name])
            self.seen[name].append((took, status))
            self.stop.wait(max(self.period_s - took, 0))

    def __enter__(self) -> Prober:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def summary(seen: list[tuple[float, int]], timeout_s: float) -> dict[str, Any]:
    took = sorted(t for t, _ in seen)
    pct = lambda q: took[min(len(took) - 1, int(q * len(took)))]  # noqa: E731
    return {
        "probes": len(took),
        "p50_s": pct(0.5),
        "p95_s": pct(0.95),
        "max_s": took[-1],
        "timeout_s": timeout_s,
        "over_timeout": sum(t > timeout_s for t in took),
        "not_200": sum(status != 200 for _, status in seen),
        "took_s": [round(t, 4) for t, _ in seen],  # in order: pooled medians and spread across rounds
    }


def recovery_s(url: str, timeout_s: float) -> float:
    """Seconds from now until ``/readyz`` answers 200 within ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < 5 * PROBE_WAIT_S:
        took, status = probe_once(url + "/readyz")
        if status == 200 and took <= timeout_s:
            return time.monotonic() - start
        time.sleep(0.1)
    return float("inf")


def answers(url: str) -> dict[str, float]:
    """``/predict`` answers by status code so far, from BentoML's request metrics (all workers)."""
    text = httpx.get(f"{url}/metrics", timeout=PROBE_WAIT_S).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "bentoml_service_request_total" and sample.labels["endpoint"] == "/predict":
                code = sample.labels["http_response_code"]
                found[code] = found.get(code, 0) + sample.value
    return found


def targets(url: str, probe_url: str | None) -> dict[str, str]:
    """The probes of a server: its traffic port's, and its probe port's when it has one."""
    found = {path: url + path for path in PROBES}
    if probe_url:
        found |= {PROBE_PORT + path: probe_url + path for path in PROBES}
    return found


def timeout_of(name: str, timeouts: dict[str, float]) -> float:
    return timeouts[name.removeprefix(PROBE_PORT)]


def flood(
    url: str,
    probe_url: str | None,
    leader: int,
    script: Path,
    args: argparse.Namespace,
    timeouts: dict[str, float],
) -> dict[str, Any]:
    load_before, pids = os.getloadavg()[0], group_pids(leader)
    cpu = cpu_seconds(pids)
    with Prober(targets(url, probe_url), args.period_s) as prober:
        wrk = wrk_background(url + "/predict", script, args.connections, args.flood_s)
        run = finish(wrk)
    flood_cpu = cpu_seconds(pids) - cpu
    after = recovery_s(probe_url or url, timeouts["/readyz"])  # the port the kubelet asks
    return {
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg()[0],
        "probes": {p: summary(s, timeout_of(p, timeouts)) for p, s in prober.seen.items()},
        "readyz_recovered_s": after,
        "flood": vars(run),
        "server_cpu_s": flood_cpu,  # the server's processes, during the flood
        "predict_answers": answers(url),  # after the flood: requests in flight then finished too
    }


def overall(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's rounds together: the median of all its probes and of each round (the spread),
    the worst probe, the share over the timeout, answers."""
    out: dict[str, Any] = {}
    for name in runs[0]["probes"]:
        probes = [run["probes"][name] for run in runs]
        out[name] = {
            "median_s": statistics.median(t for p in probes for t in p["took_s"]),
            "p50_s_by_round": [p["p50_s"] for p in probes],
            "p95_s_by_round": [p["p95_s"] for p in probes],
            "max_s": max(p["max_s"] for p in probes),
            "over_timeout": f"{sum(p['over_timeout'] for p in probes)}/{sum(p['probes'] for p in probes)}",
            "not_200": sum(p["not_200"] for p in probes),
        }
    answered = [run["predict_answers"].get("200", 0) for run in runs]
    out["predict_200_per_run"] = answered
    cpu = [run["server_cpu_s"] for run in runs]
    out["server_cpu_ms_per_200"] = [1000 * c / max(n, 1) for c, n in zip(cpu, answered, strict=True)]
    out["readyz_recovered_s"] = [run["readyz_recovered_s"] for run in runs]
    return out


def revision(ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def dirty() -> bool:
    status = ["git", "status", "--porcelain", "--", "src", "params.yaml"]
    return bool(subprocess.run(status, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip())


def line(run: dict[str, Any]) -> str:
    shown = [
        f"{path} p50/p95/max {p['p50_s']:.2f}/{p['p95_s']:.2f}/{p['max_s']:.2f} s, "
        f"{p['over_timeout']}/{p['probes']} over {p['timeout_s']:g} s, {p['not_200']} not 200"
        for path, p in run["probes"].items()
    ]
    flood = run["flood"]
    return (
        f"  {'; '.join(shown)}; /readyz fast again {run['readyz_recovered_s']:.2f} s after; "
        f"flood: {flood['requests'] - flood['non_2xx']} 200s of {flood['requests']} answers in wrk, "
        f"server {run['predict_answers']}, {run['server_cpu_s']:.1f} CPU-s; "
        f"load {run['loadavg_start']:.1f}-{run['loadavg_end']:.1f}"
    )


def with_probe_port(params_file: Path, dest: Path) -> tuple[Path, str | None]:
    """``params_file`` with a free ``serving.probe_port`` in ``dest`` and the probe port's URL, when
    the system has one (the code before the probe port has no such setting: as it is, None)."""
    params = yaml.safe_load(params_file.read_text())
    if "probe_port" not in params["serving"]:
        return params_file, None
    params["serving"]["probe_port"] = port = free_port()
    dest.write_text(yaml.safe_dump(params))
    return dest, f"http://127.0.0.1:{port}"


def extract(ref: str, dest: Path) -> Path:
    """``src/`` and ``params.yaml`` of git revision ``ref``, extracted to ``dest``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src", "params.yaml"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    # tar(1), not tarfile: its "data" filter is missing from Debian's Python 3.11.2.
    dest.mkdir(parents=True, exist_ok=True)  # tar -C needs it: main passes a folder not made yet
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


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
    parser.add_argument("--rounds", type=int, default=2, help="rounds [2]")
    parser.add_argument("--flood-s", type=float, default=20, help="seconds of flood per run [20]")
    parser.add_argument("--connections", type=int, default=600, help="flood connections [600]")
    parser.add_argument("--rows", type=int, default=1000, help="rows per flood request [1000]")
    parser.add_argument("--period-s", type=float, default=1.0, help="seconds between probes [1]")
    args = parser.parse_args(argv)
    if missing := wrk_missing() or model_missing():
        print(missing, file=sys.stderr)
        return 2
    timeouts = probe_timeouts()
    with tempfile.TemporaryDirectory(prefix="bench-probes-") as tmp:
        work = Path(tmp)
        records = json.loads(unseen_rows().to_json(orient="records"))
        body = json.dumps({"records": (records * (args.rows // len(records) + 1))[: args.rows]})
        script = lua(work / "flood.lua", [raw_request("/predict", body, ["Content-Type: application/json"])])
        systems = {"current": (REPO / "src", REPO / "params.yaml")}  # name: its src/ and params.yaml
        for value in args.slices:
            params = yaml.safe_load((REPO / "params.yaml").read_text())
            params["serving"]["loop_slice_ms"] = value
            (work / f"params-{value:g}.yaml").write_text(yaml.safe_dump(params))
            systems[f"current, loop_slice_ms={value:g}"] = (REPO / "src", work / f"params-{value:g}.yaml")
        if args.baseline:
            tree = extract(args.baseline, work / "baseline")
            systems[args.baseline] = (tree / "src", tree / "params.yaml")
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            current: dict[str, Any] = {}
            for name, (src, system_params) in list(systems.items())[:: 1 if i % 2 == 0 else -1]:
                port = free_port()
                params_file, probe_url = with_probe_port(system_params, work / f"params-{port}.yaml")
                env = {
                    "PYTHONPATH": str(src),
                    "BENTOML_HOME": str(work / f"bentoml-{port}"),
                    PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
                    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
                }
                serve = [sys.executable, "-m", "mlapp", "--params", str(params_file), "serving", "serve"]
                url = f"http://127.0.0.1:{port}"
                print(f"round {i + 1}: {name} ...", flush=True)
                logs = REPO / ".bench" / "serving-logs"
                with running("probes", [*serve, "--port", str(port)], url + "/readyz", env, logs) as proc:
                    current[name] = flood(url, probe_url, proc.pid, script, args, timeouts)
                print(line(current[name]), flush=True)
            rounds.append(current)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),  # `taskset -c 1 ...`: server, wrk and prober on one
        "flood": {"connections": args.connections, "rows": args.rows, "seconds": args.flood_s},
        "probe_period_s": args.period_s,
        "commit": revision("HEAD") + (" + uncommitted changes" if dirty() else ""),
        "baseline": args.baseline and f"{args.baseline} ({revision(args.baseline)})",
        "rounds": rounds,
        "by_system": {name: overall([r[name] for r in rounds]) for name in systems},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / args.name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["by_system"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
