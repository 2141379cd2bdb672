"""The load driver of benchmarks/serving.py: each system's rounds under ``wrk`` (closed loop,
c32), the in-process baseline, the sustained run at a share of the maximum, and the robustness
checks (benchmarks/serving_checks.py) of our service with one and two workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from bench_http import cpu_seconds, group_pids, lua, raw_request, running, wrk
from mlapp.model import Model
from mlapp.serving.records import Encoder
from serving_checks import isolation, kill_recovery, malformed_mix
from serving_systems import Bench

ROWS = (1, 100)
CONCURRENCY = 32
SHARE = 0.8  # the sustained run's target share of the measured maximum


def timed(fn: Callable[[], Any], seconds: float) -> float:
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return calls / elapsed


def in_process(
    model: Model, records: list[dict[str, Any]], frame: pd.DataFrame, seconds: float
) -> dict[str, float]:
    encoder, out = Encoder(model.spec), {}
    for batch in ROWS:
        matrix = encoder.matrix(records[:batch])
        best = 0.0
        for threads in sorted({1, os.cpu_count() or 1}):
            model.booster.set_param({"nthread": threads})
            best = max(best, batch * timed(partial(model.booster.inplace_predict, matrix), seconds))
        out[f"booster_{batch}_rows_s"] = best
        rows = frame.iloc[:batch]
        out[f"predict_proba_{batch}_rows_s"] = batch * timed(partial(model.predict_proba, rows), seconds)
    model.booster.set_param({"nthread": 1})
    return out


def measure(bench: Bench, system: str, url: str, leader: int) -> dict[int, dict[str, Any]]:
    """wrk's numbers, plus the server's CPU time per request: on a shared machine the
    throughput depends on how much CPU the server got, its CPU per request much less."""
    out = {}
    for rows in ROWS:
        script = lua(
            bench.work / f"{system}-{rows}.lua",
            [
                raw_request(
                    bench.predict_path(system), bench.body(system, rows), ["Content-Type: application/json"]
                )
            ],
        )
        wrk(url + bench.predict_path(system), script, CONCURRENCY, bench.warm_s)
        pids = group_pids(leader)
        cpu = cpu_seconds(pids)
        run = wrk(url + bench.predict_path(system), script, CONCURRENCY, bench.load_s)
        cpu_ms = 1000 * (cpu_seconds(pids) - cpu) / max(run.requests, 1)
        out[rows] = {**vars(run), "server_cpu_ms_per_request": cpu_ms}
        print(
            f"  {system:16} {rows:>3} rows c{CONCURRENCY}: {run.req_s:8.1f} req/s"
            f"  p99 {run.p99_ms:7.1f} ms  CPU {cpu_ms:6.2f} ms/request"
            f"  errors {run.errors}  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return out


def sustain(bench: Bench, url: str, max_req_s: float) -> dict[str, Any]:
    body = [raw_request("/predict", bench.body("bentoml", 1), ["Content-Type: application/json"])]
    low, high = 0.0, 1000 * CONCURRENCY / (SHARE * max_req_s) * 2
    delay, probe_s = high / 2, max(2, bench.load_s // 3)
    for _ in range(8):
        rate = wrk(url + "/predict", lua(bench.work / "pace.lua", body, delay), CONCURRENCY, probe_s).req_s
        if abs(rate / max_req_s - SHARE) <= 0.05:
            break
        low, high = (delay, high) if rate > SHARE * max_req_s else (low, delay)
        delay = (low + high) / 2
    held = wrk(
        url + "/predict", lua(bench.work / "pace.lua", body, delay), CONCURRENCY, 10 if bench.quick else 60
    )
    return {
        "target_share": SHARE,
        "share_of_max": held.req_s / max_req_s,
        "max_req_s": max_req_s,
        "delay_ms": delay,
        **vars(held),
    }


def run_all(bench: Bench, systems: tuple[str, ...], rounds_wanted: int, sustained: bool) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for i in range(rounds_wanted):
        order = systems if i % 2 == 0 else tuple(reversed(systems))
        current: dict[str, Any] = {
            "in_process": in_process(bench.model, bench.records, bench.frame, 0.3 if bench.quick else 1.5),
            "loadavg_start": os.getloadavg()[0],
        }
        for system in order:
            argv, url, ready, env = bench.server(system)
            print(f"{system} ...", flush=True)
            with running(system, argv, url + ready, {**bench.env, **env}, bench.logs) as proc:
                bench.check(system, url)
                current[system] = measure(bench, system, url, proc.pid)
                if sustained and system == "bentoml" and "sustained" not in extra:
                    extra["sustained"] = sustain(bench, url, current[system][1]["req_s"])
        current["loadavg_end"] = os.getloadavg()[0]
        rounds.append(current)
    return {"rounds": rounds, **extra}


def checks(bench: Bench, kill_only: bool = False) -> dict[str, Any]:
    seconds = 5 if bench.quick else 15
    out: dict[str, Any] = {}
    small, large = bench.body("bentoml", 1), bench.body("bentoml", 1000)
    for workers in (1, 2):
        argv, url, ready, env = bench.server("bentoml", workers)
        with running(f"bentoml-{workers}w", argv, url + ready, {**bench.env, **env}, bench.logs) as proc:
            if workers == 1 and not kill_only:
                print("malformed mix, isolation ...", flush=True)
                out["malformed_mix"] = malformed_mix(
                    url, proc.pid, small, bench.records[0], bench.work, seconds
                )
                out["isolation"] = isolation(url, small, large, bench.work, seconds)
            print(f"kill -9 of a worker ({workers} worker(s)) ...", flush=True)
            log = bench.logs / f"bentoml-{workers}w.log"
            out[f"kill_{workers}_worker"] = kill_recovery(url, proc.pid, log, small, bench.work, 3 * seconds)
    return out
