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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
from params_files import as_written, settings
from revisions import require_ref
from serving import unseen_rows

PROBES = ("/livez", "/readyz")
PROBE_PORT = "probe port "  # the prefix of the probe port's series
PROBE_WAIT_S = 60.0  # a probe still unanswered after this is recorded as this
WORKER_SAMPLE_S = 2.0  # seconds between counts of each worker's connections
LOOP_FACTORY = {"asyncio": "uvicorn.loops.asyncio:asyncio_loop_factory"}  # --loops: what "auto" becomes
DEFAULT_TIMEOUT_S = 1.0  # Kubernetes' timeoutSeconds when a probe sets none
HELD: list[socket.socket] = []  # ports picked from --ports, kept bound until the benchmark exits


def probe_timeouts(deployment: Path = REPO / "infra" / "base" / "deployment.yaml") -> dict[str, float]:
    spec = yaml.safe_load(deployment.read_text())["spec"]["template"]["spec"]["containers"][0]
    return {
        probe["httpGet"]["path"]: float(probe.get("timeoutSeconds", DEFAULT_TIMEOUT_S))
        for probe in (spec["livenessProbe"], spec["readinessProbe"])
    }


def probe_once(url: str) -> tuple[float, int, str]:
    """Seconds the answer took, its status (0: none) and, when not a 200, its body: the reason."""
    start = time.monotonic()
    try:
        answer = httpx.get(url, timeout=PROBE_WAIT_S, headers={"connection": "close"})
        status, reason = answer.status_code, "" if answer.status_code == 200 else answer.text.strip()
    except httpx.TransportError as exc:
        status, reason = 0, f"no answer: {type(exc).__name__}"
    return time.monotonic() - start, status, reason


def accept_queue(port: int) -> int | None:
    """Connections waiting to be accepted on the listening socket of ``port`` (None: none listens).
    ``/proc/net/tcp``'s ``rx_queue`` of a listening socket (state 0A) is ``sk_ack_backlog``, what
    ``TCP_INFO``'s ``tcpi_unacked`` gives ``/readyz`` (src/mlapp/serving/probes.py)."""
    local = f":{port:04X}"  # the local address's port, in hex
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(local) and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    return None


def listen_drops() -> dict[str, int]:
    """The kernel's ``ListenOverflows`` and ``ListenDrops`` (``/proc/net/netstat``, every socket):
    connections dropped because a listen queue was full."""
    rows = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in zip(rows[::2], rows[1::2], strict=True):
        if names[0] == "TcpExt:":
            found = dict(zip(names[1:], values[1:], strict=True))
            return {key: int(found[key]) for key in ("ListenOverflows", "ListenDrops")}
    return {}


def worker_connections(port: int, pids: list[int]) -> dict[str, int]:
    """Connections to ``port`` each process holds (its sockets in ``/proc/net/tcp`` that are not
    listening), by pid; processes holding none are left out."""
    local = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(local) and fields[3] != "0A":
                inodes.add(f"socket:[{fields[9]}]")
    held = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        count = 0
        for fd in fds:
            try:
                count += str(fd.readlink()) in inodes
            except OSError:
                continue
        if count:
            held[str(pid)] = count
    return held


class Prober:
    """One thread per probe (name: its URL), a probe every ``period_s`` (or right after a slower
    one), like the kubelet; and, given the traffic ``port``, one sampling its accept queue every
    ``queue_s``. Times are seconds since ``__enter__`` (the flood starts right after)."""

    def __init__(
        self,
        urls: dict[str, str],
        period_s: float,
        port: int | None = None,
        queue_s: float = 0.25,
        pids: list[int] | None = None,
    ) -> None:
        self.urls, self.period_s, self.queue_s = urls, period_s, queue_s
        self.seen: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
        self.not_ready: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
        self.queue: list[tuple[float, int | None]] = []
        self.workers: list[tuple[float, dict[str, int]]] = []  # [seconds, {pid: connections}]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.loop, args=(name,), daemon=True) for name in urls]
        if port is not None:
            self.threads.append(threading.Thread(target=self.sample, args=(port,), daemon=True))
            if pids:
                self.threads.append(threading.Thread(target=self.count, args=(port, pids), daemon=True))
        self.start = time.monotonic()

    def loop(self, name: str) -> None:
        while not self.stop.is_set():
            sent = time.monotonic() - self.start
            took, status, reason = probe_once(self.urls[name])
            self.seen[name].append((took, status))
            if status != 200:
                self.not_ready[name].append({"at_s": round(sent, 2), "status": status, "reason": reason})
            self.stop.wait(max(self.period_s - took, 0))

    def sample(self, port: int) -> None:
        while not self.stop.is_set():
            self.queue.append((round(time.monotonic() - self.start, 2), accept_queue(port)))
            self.stop.wait(self.queue_s)

    def count(self, port: int, pids: list[int]) -> None:
        while not self.stop.wait(WORKER_SAMPLE_S):
            self.workers.append((round(time.monotonic() - self.start, 2), worker_connections(port, pids)))

    def __enter__(self) -> Prober:
        self.start = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def queue_summary(samples: list[tuple[float, int | None]]) -> dict[str, Any]:
    """The accept queue during a flood: its median and max, and every sample ([seconds, length])."""
    lengths = [n for _, n in samples if n is not None]
    return {
        "median": statistics.median(lengths) if lengths else None,
        "max": max(lengths, default=None),
        "samples": [[t, n] for t, n in samples],
    }


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


def wave_summary(out: str, at_s: float) -> dict[str, Any]:
    """benchmarks/joining.py's output, with seconds since the wave began until all its
    connections were answered, the median and the 90th percentile (None: not within the run)."""
    run = json.loads(out)
    for key in ("first_answer_s", "first_200_s"):
        times: list[float | None] = sorted(run[key], key=lambda t: float("inf") if t is None else t)
        run[key.removesuffix("_s")] = {
            "all_s": times[-1],
            "p50_s": times[len(times) // 2],
            "p90_s": times[int(0.9 * (len(times) - 1))],
            "never": times.count(None),
        }
    return run | {"at_s": at_s}


def recovery_s(url: str, timeout_s: float) -> float:
    """Seconds from now until ``/readyz`` answers 200 within ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < 5 * PROBE_WAIT_S:
        took, status, _ = probe_once(url + "/readyz")
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
    out["predict_429_per_run"] = [run["predict_answers"].get("429", 0) for run in runs]
    readyz = PROBE_PORT + "/readyz" if PROBE_PORT + "/readyz" in runs[0]["probes"] else "/readyz"
    out["readyz_not_200_per_run"] = [run["probes"][readyz]["not_200"] for run in runs]  # the kubelet's port
    for key in ("predict_200_per_run", "predict_429_per_run", "readyz_not_200_per_run"):
        values = out[key]
        out[key.replace("_per_run", "_median_range")] = [statistics.median(values), min(values), max(values)]
    out["accept_queue_median_max_per_run"] = [
        [run["accept_queue"]["median"], run["accept_queue"]["max"]] for run in runs
    ]
    cpu = [run["server_cpu_s"] for run in runs]
    out["server_cpu_ms_per_200"] = [1000 * c / max(n, 1) for c, n in zip(cpu, answered, strict=True)]
    out["readyz_recovered_s"] = [run["readyz_recovered_s"] for run in runs]
    out["predict_200_per_server_cpu_s"] = [n / max(c, 1e-9) for c, n in zip(cpu, answered, strict=True)]
    out["listen_dropped_per_run"] = [run["listen_dropped"] for run in runs]
    if runs[0]["wave"]:
        for key in ("first_answer", "first_200"):
            out[f"wave_{key}_all_s_per_run"] = [run["wave"][key]["all_s"] for run in runs]
            out[f"wave_{key}_p50_s_per_run"] = [run["wave"][key]["p50_s"] for run in runs]
            out[f"wave_{key}_never_per_run"] = [run["wave"][key]["never"] for run in runs]
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
        + (f" (at {', '.join(str(n['at_s']) for n in p['not_200_at'])} s)" if p["not_200_at"] else "")
        for path, p in run["probes"].items()
    ]
    flood, queue = run["flood"], run["accept_queue"]
    return (
        f"  {'; '.join(shown)}; accept queue median {queue['median']}, max {queue['max']}; "
        f"/readyz fast again {run['readyz_recovered_s']:.2f} s after; "
        f"flood: {flood['requests'] - flood['non_2xx']} 200s of {flood['requests']} answers in wrk, "
        f"server {run['predict_answers']}, {run['server_cpu_s']:.1f} CPU-s; "
        f"load {run['loadavg_start']:.1f}-{run['loadavg_end']:.1f}; dropped {run['listen_dropped']}"
        + (
            f"; wave all answered {wave['first_answer']} s, all 200 {wave['first_200']} s"
            if (wave := run["wave"])
            else ""
        )
    )


def port_picker(ports: str | None) -> Callable[[], int]:
    """``free_port``, or with ``--ports FIRST-LAST`` the next port of that range nobody uses (held
    bound, as ``free_port`` holds its own, so no other pick takes it)."""
    if not ports:
        return free_port
    first, last = (int(p) for p in ports.split("-"))
    candidates = iter(range(first, last + 1))

    def pick() -> int:
        for port in candidates:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            HELD.append(sock)
            return port
        raise SystemExit(f"error: no free port left in {ports}")

    return pick


def with_probe_port(params_file: Path, dest: Path, pick: Callable[[], int]) -> tuple[Path, str | None]:
    """``params_file`` with a free ``serving.probe_port`` in ``dest`` and the probe port's URL, when
    the system has one (the code before the probe port has no such setting: as it is, None)."""
    params = as_written(params_file.read_text(), str(params_file))  # this checkout's, or a baseline's
    if "probe_port" not in params["serving"]:
        return params_file, None
    params["serving"]["probe_port"] = port = pick()
    dest.write_text(yaml.safe_dump(params))
    return dest, f"http://127.0.0.1:{port}"


def extract(ref: str, dest: Path) -> Path:
    """``src/`` and ``params.yaml`` of git revision ``ref``, extracted to ``dest``; a ``ref`` this
    clone lacks stops the benchmark with one line."""
    require_ref(ref)
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
    with tempfile.TemporaryDirectory(prefix="bench-probes-") as tmp:
        work = Path(tmp)
        records = json.loads(unseen_rows().to_json(orient="records"))
        body = json.dumps({"records": (records * (args.rows // len(records) + 1))[: args.rows]})
        request = raw_request("/predict", body, ["Content-Type: application/json"])
        script = lua(work / "flood.lua", [request])
        (request_file := work / "request.http").write_text(request)
        # name: its PYTHONPATH (its src/ first) and params.yaml
        src = str(REPO / "src")
        systems = {"current": (src, REPO / "params.yaml")}
        for value in args.slices:
            params = settings(REPO / "params.yaml")
            params["serving"]["loop_slice_ms"] = value
            (work / f"params-{value:g}.yaml").write_text(yaml.safe_dump(params))
            systems[f"current, loop_slice_ms={value:g}"] = (src, work / f"params-{value:g}.yaml")
        for loop in args.loops:
            (site := work / f"loop-{loop}").mkdir()
            (site / "sitecustomize.py").write_text(
                f"import uvicorn.config\nuvicorn.config.LOOP_FACTORIES['auto'] = {LOOP_FACTORY[loop]!r}\n"
            )
            systems[f"current, loop={loop}"] = (f"{src}{os.pathsep}{site}", REPO / "params.yaml")
        if args.baseline:
            tree = extract(args.baseline, work / "baseline")
            systems[args.baseline] = (str(tree / "src"), tree / "params.yaml")
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            current: dict[str, Any] = {}
            for name, (pythonpath, system_params) in list(systems.items())[:: 1 if i % 2 == 0 else -1]:
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
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),  # `taskset -c 1 ...`: server, wrk and prober on one
        "flood": {"connections": args.connections, "rows": args.rows, "seconds": args.flood_s},
        "wave": {"connections": args.wave, "at_s": args.wave_at_s} if args.wave else None,
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
