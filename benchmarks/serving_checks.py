"""Robustness measurements of our service for benchmarks/serving.py (one server each).

- ``malformed_mix``: good requests interleaved with what careless clients send (broken JSON,
  two Content-Type headers, a 2 MB body, form data, a wrong charset, a duplicate key, bad
  values); the process group's resident memory is sampled throughout; no 5xx allowed.
- ``isolation``: small requests' p99 alone, then while a second client sends 1000-row bodies.
- ``kill_recovery``: kill -9 of one worker under load: seconds until ``/readyz`` answers again
  (one worker: the service is down meanwhile) and the requests that failed (two workers: the
  other one keeps serving), against the connections that were in flight.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench_http import finish, group_pids, lua, raw_request, rss_bytes, wait_ready, wrk, wrk_background

JSON = "Content-Type: application/json"


def malformed_requests(good: str, record: dict[str, Any]) -> list[str]:
    dup = json.dumps({"records": [record]})[:-2] + ', "age": 30}]}'
    bad_value = json.dumps({"records": [{**record, "age": 5}]})
    return [
        raw_request("/predict", good, [JSON]),
        raw_request("/predict", good[: len(good) // 2], [JSON]),  # cut JSON
        raw_request("/predict", good, ["Content-Type: multipart/form-data; boundary=x", JSON]),
        raw_request("/predict", " " * (2 << 20), [JSON]),  # over the 1 MB cap: 413 while reading
        raw_request("/predict", "records=1", ["Content-Type: application/x-www-form-urlencoded"]),
        raw_request("/predict", good, ["Content-Type: application/json; charset=latin-1"]),
        raw_request("/predict", dup, [JSON]),
        raw_request("/predict", bad_value, [JSON]),
        raw_request("/predict", "[" * 100_000, [JSON]),  # deep nesting
        raw_request("/predict", good, [JSON]),
    ]


def malformed_mix(
    url: str, leader: int, good: str, record: dict[str, Any], work: Path, seconds: float
) -> dict[str, Any]:
    script = lua(work / "mix.lua", malformed_requests(good, record))
    before = rss_bytes(group_pids(leader))
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes(group_pids(leader)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run = wrk(f"{url}/predict", script, 16, seconds)
    stop.set()
    sampler.join()
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    server_errors = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("bentoml_service_request_total{") and 'http_response_code="5' in line
    )
    return {
        "requests": run.requests,
        "req_s": run.req_s,
        "non_2xx": run.non_2xx,
        "socket_errors": run.socket_errors,
        "server_5xx": server_errors,
        "rss_before_mb": before / 2**20,
        "rss_peak_mb": peak / 2**20,
        "rss_growth_mb": (peak - before) / 2**20,
    }


def isolation(url: str, small: str, large: str, work: Path, seconds: float) -> dict[str, Any]:
    small_script = lua(work / "small.lua", [raw_request("/predict", small, [JSON])])
    large_script = lua(work / "large.lua", [raw_request("/predict", large, [JSON])])
    alone = wrk(f"{url}/predict", small_script, 8, seconds)
    background = wrk_background(f"{url}/predict", large_script, 2, seconds + 2)
    time.sleep(1)  # the large requests are flowing before the measured small ones start
    together = wrk(f"{url}/predict", small_script, 8, seconds)
    heavy = finish(background)
    return {
        "small_alone_p99_ms": alone.p99_ms,
        "small_alone_req_s": alone.req_s,
        "small_with_large_p99_ms": together.p99_ms,
        "small_with_large_req_s": together.req_s,
        "large_req_s": heavy.req_s,
        "large_rows": len(json.loads(large)["records"]),
        "errors": alone.errors + together.errors + heavy.errors,
    }


def workers(leader: int) -> list[int]:
    """The server's worker processes: everything the supervisor started (they are its forks)."""
    return [p for p in group_pids(leader) if p != leader]


def kill_recovery(
    url: str, leader: int, log: Path, small: str, work: Path, seconds: float, concurrency: int = 16
) -> dict[str, Any]:
    script = lua(work / "kill.lua", [raw_request("/predict", small, [JSON])])
    load = wrk_background(f"{url}/predict", script, concurrency, seconds)
    time.sleep(seconds / 3)
    before = workers(leader)
    started = log.read_text(errors="replace").count("initialized")  # BentoML logs one per worker
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    # Poll fast: this is the measurement (the probe itself is one tiny GET).
    ready_s = wait_ready(f"{url}/readyz", None, 60, "after kill -9", poll_s=0.05)
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("initialized") <= started and time.monotonic() < deadline:
        time.sleep(0.05)
    replaced_s = time.monotonic() - killed_at  # the new worker has loaded the model
    run = finish(load)
    return {
        "workers": len(before),
        "ready_again_s": ready_s,
        "worker_replaced_s": replaced_s,
        "requests": run.requests,
        "failed": run.errors,
        "in_flight_max": concurrency,
        "p99_ms": run.p99_ms,
    }
