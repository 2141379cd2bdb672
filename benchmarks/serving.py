"""Serving benchmark: our BentoML service vs the alternatives, same model, one run.

    uv run python benchmarks/serving.py [--out benchmarks/results] [--quick]      (make bench-serve)
    uv run python benchmarks/serving.py --systems bentoml,fastapi-same --rounds 4 --out .bench/ab
    uv run python benchmarks/serving.py --kill-only        (only the kill -9 checks, printed, nothing written)

The second form (a subset of systems) runs only their throughput rounds: no sustained run,
no robustness checks, only the ratios between the systems that ran: a quick side-by-side
check of one change.

Loopback only, one server at a time, each with ONE worker, by ``wrk`` (closed loop, c32):
- in process: the booster's own ``inplace_predict`` on a ready float32 matrix (best thread
  count) and ``Model.predict_proba`` (pandas + DMatrix), at batch 1 and 100, before each round;
- our service (``mlapp serving serve``), the same request path behind plain FastAPI + uvicorn
  (benchmarks/serving_fastapi.py ``same_app``: the framework is the only difference),
  FastAPI + pandera + ``predict_proba`` (``app``) and ``mlflow models serve --env-manager local``;
  1-row and 100-row requests. The systems run **alternately, twice** (round 1: A B C D,
  round 2: D C B A); each ratio is computed per round and reported with its spread.
- a sustained run of our service at a stated share of its maximum: wrk's per-request delay
  is bisected until the measured rate is within +-5 points of the target share, and the
  share reported is the one measured;
- robustness (benchmarks/serving_checks.py): RSS under a malformed-traffic mix, small-request
  p99 while large requests arrive, kill -9 of a worker (one worker and two workers).

Every server's answer is checked against ``Model.predict_proba`` before it is loaded.
Writes ``serving.json`` (every number, load averages) and ``serving.md`` to ``--out``
(default ``benchmarks/results``, committed, so the numbers docs/serving.md quotes can be
checked; ``.bench`` for ``--quick``); server logs go to ``.bench/serving-logs``, the prediction
log to the run's temporary folder (never ``logs/``, which ``mlapp monitor run --source
logs/predictions.jsonl`` reads).
The machine may be shared: compare ratios from one run, and read the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from bench_http import (
    REPO,
    cpu_seconds,
    group_pids,
    lua,
    model_missing,
    raw_request,
    running,
    wrk,
    wrk_missing,
)
from mlapp.model import Model, load
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV, PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from mlapp.serving.records import Encoder
from params_files import settings
from revisions import result_head, write_result
from serving_checks import isolation, kill_recovery, malformed_mix

ROWS = (1, 100)
CONCURRENCY = 32
TOLERANCE = 1e-6
SYSTEMS = ("bentoml", "fastapi-same", "fastapi-pandera", "mlflow")
SHARE = 0.8  # the sustained run's target share of the measured maximum


def unseen_rows() -> pd.DataFrame:
    """The rows every system is sent: generated, unseen in training, with the sample's nulls."""
    return generate(1_000, 20261124)[list(FEATURES)]


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


def save_mlflow_model(model_dir: Path, dest: Path, example: pd.DataFrame) -> Path:
    """The pipeline's MLflow model (models-from-code pyfunc + native files), saved locally."""
    import mlflow

    from mlapp.tracking import PACKAGE_DIR, PYFUNC_FILE

    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    mlflow.pyfunc.save_model(
        path=str(dest),
        python_model=str(PYFUNC_FILE),
        artifacts={"model_dir": str(model_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=["mlflow", "xgboost-cpu", "pandas"],
        input_example=example,
    )
    return dest


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, out: Path) -> None:
        self.quick = args.quick
        self.load_s, self.warm_s = (3, 1) if args.quick else (10, 2)
        self.work, self.logs = work, REPO / ".bench" / "serving-logs"
        params = settings(REPO / "params.yaml")
        model_dir = (args.model_dir or REPO / params["train"]["model_dir"]).resolve()
        self.model = load(model_dir)
        self.frame = unseen_rows()
        self.records = json.loads(self.frame.to_json(orient="records"))
        self.expected = self.model.predict_proba(self.frame.iloc[:100])
        self.params_files = {}
        for n in (1, 2):
            params["serving"]["workers"] = n
            (work / f"params-{n}.yaml").write_text(yaml.safe_dump(params))
            self.params_files[n] = work / f"params-{n}.yaml"
        self.env = {
            MODEL_DIR_ENV: str(model_dir),
            PARAMS_ENV: str(self.params_files[1]),
            # logged as in production, but not into the project's logs/ that monitoring reads
            PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        }
        self.mlflow_model = save_mlflow_model(
            model_dir, work / "mlflow-model", pd.DataFrame(self.records[:20])
        )

    def body(self, system: str, rows: int) -> str:
        key = "dataframe_records" if system == "mlflow" else "records"
        return json.dumps({key: self.records[:rows]})

    def server(self, system: str, workers: int = 1) -> tuple[list[str], str, str, dict[str, str]]:
        """argv, readiness URL path, predict path, extra environment."""
        port = free_port()
        py = sys.executable
        if system == "bentoml":
            argv = [
                py,
                "-m",
                "mlapp",
                "--params",
                str(self.params_files[workers]),
                "serving",
                "serve",
                "--port",
                str(port),
            ]
            return argv, f"http://127.0.0.1:{port}", "/readyz", {PARAMS_ENV: str(self.params_files[workers])}
        if system == "mlflow":
            argv = [
                py,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                str(self.mlflow_model),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "1",
            ]
            return argv, f"http://127.0.0.1:{port}", "/ping", {}
        app = "serving_fastapi:same_app" if system == "fastapi-same" else "serving_fastapi:app"
        argv = [
            py,
            "-m",
            "uvicorn",
            app,
            "--app-dir",
            str(REPO / "benchmarks"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
        ]
        return argv, f"http://127.0.0.1:{port}", "/openapi.json", {}

    def predict_path(self, system: str) -> str:
        return "/invocations" if system == "mlflow" else "/predict"

    def check(self, system: str, url: str) -> None:
        answer = httpx.post(
            url + self.predict_path(system),
            content=self.body(system, 100),
            headers={"content-type": "application/json"},
            timeout=60,
        ).json()
        got = np.asarray(
            [p["probability"] for p in (answer["predictions"] if system == "mlflow" else answer)]
        )
        worst = float(np.max(np.abs(got - self.expected)))
        if len(got) != len(self.expected) or worst > TOLERANCE:
            raise RuntimeError(f"{system} does not serve the same model: max difference {worst}")

    def measure(self, system: str, url: str, leader: int) -> dict[int, dict[str, Any]]:
        """wrk's numbers, plus the server's CPU time per request: on a shared machine the
        throughput depends on how much CPU the server got, its CPU per request much less."""
        out = {}
        for rows in ROWS:
            script = lua(
                self.work / f"{system}-{rows}.lua",
                [
                    raw_request(
                        self.predict_path(system), self.body(system, rows), ["Content-Type: application/json"]
                    )
                ],
            )
            wrk(url + self.predict_path(system), script, CONCURRENCY, self.warm_s)
            pids = group_pids(leader)
            cpu = cpu_seconds(pids)
            run = wrk(url + self.predict_path(system), script, CONCURRENCY, self.load_s)
            cpu_ms = 1000 * (cpu_seconds(pids) - cpu) / max(run.requests, 1)
            out[rows] = {**vars(run), "server_cpu_ms_per_request": cpu_ms}
            print(
                f"  {system:16} {rows:>3} rows c{CONCURRENCY}: {run.req_s:8.1f} req/s"
                f"  p99 {run.p99_ms:7.1f} ms  CPU {cpu_ms:6.2f} ms/request"
                f"  errors {run.errors}  load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        return out

    def sustain(self, url: str, max_req_s: float) -> dict[str, Any]:
        body = [raw_request("/predict", self.body("bentoml", 1), ["Content-Type: application/json"])]
        low, high = 0.0, 1000 * CONCURRENCY / (SHARE * max_req_s) * 2
        delay, probe_s = high / 2, max(2, self.load_s // 3)
        for _ in range(8):
            rate = wrk(url + "/predict", lua(self.work / "pace.lua", body, delay), CONCURRENCY, probe_s).req_s
            if abs(rate / max_req_s - SHARE) <= 0.05:
                break
            low, high = (delay, high) if rate > SHARE * max_req_s else (low, delay)
            delay = (low + high) / 2
        held = wrk(
            url + "/predict", lua(self.work / "pace.lua", body, delay), CONCURRENCY, 10 if self.quick else 60
        )
        return {
            "target_share": SHARE,
            "share_of_max": held.req_s / max_req_s,
            "max_req_s": max_req_s,
            "delay_ms": delay,
            **vars(held),
        }


def spread(values: list[float]) -> dict[str, Any]:
    return {"value": statistics.mean(values), "min": min(values), "max": max(values), "rounds": values}


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
                current[system] = bench.measure(system, url, proc.pid)
                if sustained and system == "bentoml" and "sustained" not in extra:
                    extra["sustained"] = bench.sustain(url, current[system][1]["req_s"])
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


Of = Callable[[dict[str, Any]], float]  # one round's number


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rounds = result["rounds"]
    rows_s = lambda system, rows: lambda r: r[system][rows]["req_s"] * rows  # noqa: E731
    cpu_ms = lambda system, rows: lambda r: r[system][rows]["server_cpu_ms_per_request"]  # noqa: E731
    booster = lambda r: r["in_process"]["booster_100_rows_s"]  # noqa: E731
    # (the other system it needs, target, numerator, denominator, required at least)
    compared: list[tuple[str, str, Of, Of, float]] = [
        ("bentoml", "100-row rows/s (c32, 1 worker) / booster predict at batch 100",
         rows_s("bentoml", 100), booster, 0.25),
        ("mlflow", "100-row rows/s vs mlflow models serve",
         rows_s("bentoml", 100), rows_s("mlflow", 100), 5.0),
        ("fastapi-same", "100-row rows/s vs FastAPI + same path",
         rows_s("bentoml", 100), rows_s("fastapi-same", 100), 0.8),
        ("fastapi-same",
         "100-row requests per server CPU-second vs FastAPI + same path (less load-dependent)",
         cpu_ms("fastapi-same", 100), cpu_ms("bentoml", 100), 0.8),
        ("fastapi-same", "1-row req/s vs FastAPI + same path",
         rows_s("bentoml", 1), rows_s("fastapi-same", 1), 0.8),
        ("fastapi-pandera", "100-row rows/s vs FastAPI + pandera",
         rows_s("bentoml", 100), rows_s("fastapi-pandera", 100), 1.0),
    ]  # fmt: skip
    ran = set(result["systems"])
    found = [
        (name, spread([num(r) / den(r) for r in rounds]), need, False)
        for other, name, num, den, need in compared
        if {"bentoml", other} <= ran
    ]
    if "sustained" in result:
        held = result["sustained"]
        found.append(
            (
                f"sustained {held['seconds']:.0f} s at {held['share_of_max']:.0%} of max: errors",
                spread([float(held["non_2xx"] + held["socket_errors"])]),
                0,
                True,
            )
        )
    if "checks" in result:
        c = result["checks"]
        found += [
            ("malformed mix: server 5xx", spread([c["malformed_mix"]["server_5xx"]]), 0, True),
            ("malformed mix: RSS growth MB", spread([c["malformed_mix"]["rss_growth_mb"]]), 50, True),
            ("kill -9 (1 worker): ready again, s", spread([c["kill_1_worker"]["ready_again_s"]]), 5, True),
            (
                "kill -9 (2 workers): failed requests / in flight (16)",
                spread([c["kill_2_worker"]["failed"] / 16]),
                1,
                True,
            ),
        ]
    return [
        {
            "target": n,
            **v,
            "need": need,
            "at_most": at_most,
            "met": v["value"] <= need if at_most else v["value"] >= need,
        }
        for n, v, need, at_most in found
    ]


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]  # revisions.result_head's, with write_result's load_after
    lines = [
        "# Serving benchmark",
        "",
        f"{result['date']} · {machine['cpus']} CPUs · load average "
        f"{machine['load_before'][0]:.1f} before, {machine['load_after'][0]:.1f} after · "
        f"model {result['model_version']} · wrk c{CONCURRENCY}, 1 worker"
        + (" · QUICK run" if result["quick"] else ""),
        "",
        "| round | system | rows/request | req/s | rows/s | p50 ms | p99 ms | server CPU ms/request "
        "| errors | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(result["rounds"], 1):
        for system in result["systems"]:
            for rows, x in r[system].items():
                lines.append(
                    f"| {i} | {system} | {rows} | {x['req_s']:,.0f} | {x['req_s'] * int(rows):,.0f} | "
                    f"{x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['server_cpu_ms_per_request']:.2f} | "
                    f"{x['non_2xx'] + x['socket_errors']} | "
                    f"{r['loadavg_start']:.1f}-{r['loadavg_end']:.1f} |"
                )
    lines += [
        "",
        "| target | measured (mean) | spread (min-max) | required | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for t in result["targets"]:
        lines.append(
            f"| {t['target']} | {t['value']:.2f} | {t['min']:.2f}-{t['max']:.2f} | "
            f"{'≤' if t['at_most'] else '≥'} {t['need']:g} | {'yes' if t['met'] else '**no**'} |"
        )
    if "checks" in result:
        lines += ["", "```json", json.dumps(result["checks"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, help="folder for serving.json/.md [benchmarks/results; .bench with --quick]"
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test of the benchmark")
    parser.add_argument("--model-dir", type=Path, help="model folder [params: train.model_dir]")
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help="comma-separated subset, in round-1 order; a subset skips the sustained run and the checks",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating the order [2]")
    parser.add_argument(
        "--kill-only", action="store_true", help="only the kill -9 checks: print their JSON, write no results"
    )
    args = parser.parse_args(argv)
    systems = tuple(args.systems.split(","))
    if not systems or not set(systems) <= set(SYSTEMS) or "bentoml" not in systems:
        parser.error(f"--systems: bentoml and others of {', '.join(SYSTEMS)}")
    full = set(systems) == set(SYSTEMS)
    if missing := wrk_missing():
        print(missing, file=sys.stderr)
        return 2
    if missing := model_missing(args.model_dir):
        print(missing, file=sys.stderr)
        return 2
    # A quick run's numbers are a smoke test: they never replace the committed results.
    out = (args.out or REPO / (".bench" if args.quick else "benchmarks/results")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    head = result_head(Path(__file__).name)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        bench = Bench(args, Path(tmp), out)
        if args.kill_only:
            found = {"loadavg_before": head["machine"]["load_before"][0], **checks(bench, kill_only=True)}
            print(json.dumps({**found, "loadavg_after": os.getloadavg()[0]}, indent=2))
            return 0
        result: dict[str, Any] = {
            **head,
            "quick": args.quick,
            "model_version": bench.model.version,
            "systems": systems,
            **run_all(bench, systems, args.rounds, sustained=full),
        }
        if full:
            result["checks"] = checks(bench)
    result["targets"] = targets(result)
    write_result(result, out / "serving.json", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
