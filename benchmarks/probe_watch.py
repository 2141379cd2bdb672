"""What benchmarks/probes.py and probe_flood.py watch while a server is flooded: probes sent as
the kubelet sends them, the traffic port's accept queue, each worker's connections, the kernel's
listen drops and the server's ``/predict`` answers."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench_http import REPO

PROBE_WAIT_S = 60.0  # a probe still unanswered after this is recorded as this
WORKER_SAMPLE_S = 2.0  # seconds between counts of each worker's connections
DEFAULT_TIMEOUT_S = 1.0  # Kubernetes' timeoutSeconds when a probe sets none


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
