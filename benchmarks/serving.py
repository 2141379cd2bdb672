"""Serving benchmark: our BentoML service vs the alternatives, same model, one run.

    python benchmarks/serving.py [--out .bench] [--quick]      (make bench-serve)

Measured side by side, loopback only, one system at a time:
- in process: ``Model.predict_proba`` (pipeline path: pandas -> DMatrix) and the booster's
  own ``inplace_predict`` on a ready float32 matrix, at batch 1, 100 and 10,000 rows
  (measured before and after the service's runs; the better rate counts as the limit);
- our service (``mlapp serving serve``: validation on, adaptive batching), ``mlflow models serve
  --env-manager local`` on the same model logged as the pipeline logs it, and a minimal
  FastAPI + uvicorn endpoint (benchmarks/serving_fastapi.py: pandera + predict_proba);
  each with 1-row and 100-row requests at concurrency 8 and 32, by ``wrk`` (closed loop:
  a connection sends its next request when the previous one returns);
- a sustained run of our service at ~80% of its measured maximum (wrk paced with a
  per-connection delay), which must end with zero errors.

Every server's answer is checked against ``Model.predict_proba`` before it is loaded.
Writes ``serving.json`` (raw numbers, environment) and ``serving.md`` (tables, ratios
against the issue's targets) to ``--out``; server logs go to ``--out/serving-logs/``.
The machine is shared: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mlapp.model import Model, load
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving import MODEL_DIR_ENV, PARAMS_ENV
from mlapp.serving.records import Encoder

REPO = Path(__file__).resolve().parents[1]
WRK_HELP = (
    "wrk (the load generator) is not on PATH. Install it: `sudo apt-get install -y wrk` "
    "(Debian/Ubuntu), `brew install wrk` (macOS), then re-run `make bench-serve`."
)
BATCHES = (1, 100, 10_000)
LOADS = ((1, 8), (1, 32), (100, 8), (100, 32))  # (rows per request, concurrent connections)
TOLERANCE = 1e-6


@dataclass
class Durations:
    load_s: int
    warmup_s: int
    inprocess_s: float
    sustain_s: int

    @classmethod
    def pick(cls, quick: bool) -> Durations:
        return cls(3, 1, 0.3, 10) if quick else cls(10, 2, 1.5, 60)


@dataclass
class Load:
    system: str
    rows: int
    concurrency: int
    seconds: float
    requests: int
    req_s: float
    rows_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    loadavg: float = field(default=0.0)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


# --- in process -------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return calls / elapsed


def in_process(model: Model, frame: pd.DataFrame, seconds: float) -> list[dict[str, Any]]:
    encoder = Encoder(model.spec)
    records = json.loads(frame.to_json(orient="records"))
    results = []
    for batch in BATCHES:
        rows = frame.iloc[np.arange(batch) % len(frame)].reset_index(drop=True)
        matrix = encoder.matrix([records[i % len(records)] for i in range(batch)])
        entry: dict[str, Any] = {"batch": batch}
        entry["predict_proba_rows_s"] = batch * timed(lambda rows=rows: model.predict_proba(rows), seconds)
        for threads in sorted({1, os.cpu_count() or 1}):
            model.booster.set_param({"nthread": threads})
            rate = batch * timed(lambda m=matrix: model.booster.inplace_predict(m), seconds)
            entry[f"booster_{threads}t_rows_s"] = rate
        entry["booster_rows_s"] = max(v for k, v in entry.items() if k.startswith("booster_"))
        results.append(entry)
    model.booster.set_param({"nthread": 1})
    return results


def best_of(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per batch and path, the higher rate: on a shared machine the limit is the best moment."""
    return [{k: max(a[k], b[k]) for k in a} for a, b in zip(first, second, strict=True)]


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(name: str, argv: list[str], ready: str, env: dict[str, str], logs: Path) -> Iterator[None]:
    """Start a server in its own process group, wait for ``ready`` to answer 200, stop it after."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: see {logs / f'{name}.log'}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after 180 s: see {logs / f'{name}.log'}")
            time.sleep(0.5)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and any workers it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def save_mlflow_model(model_dir: Path, dest: Path, example: pd.DataFrame) -> Path:
    """The pipeline's MLflow model (models-from-code pyfunc + native files), saved locally."""
    import mlflow

    from mlapp.tracking import PACKAGE_DIR, PYFUNC_FILE

    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")  # no nullable ints
    mlflow.pyfunc.save_model(
        path=str(dest),
        python_model=str(PYFUNC_FILE),
        artifacts={"model_dir": str(model_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=["mlflow", "xgboost-cpu", "pandas"],  # unused with --env-manager local
        input_example=example,
    )
    return dest


# --- load generation --------------------------------------------------------------------------


def lua(path: Path, body: str, delay_ms: float | None = None) -> Path:
    script = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f"wrk.body = {json.dumps(body)}",
    ]
    if delay_ms:
        script.append(f"function delay() return {delay_ms:.3f} end")
    path.write_text("\n".join(script) + "\n")
    return path


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(url: str, script: Path, concurrency: int, seconds: int) -> dict[str, Any]:
    argv = [
        "wrk",
        "-t2",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    text = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    grab = lambda pattern: re.search(pattern, text)  # noqa: E731
    done = grab(r"(\d+) requests in ([\d.]+)(\w+)")
    socket_errors = grab(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non_2xx = grab(r"Non-2xx or 3xx responses: (\d+)")
    return {
        "requests": int(done.group(1)),  # type: ignore[union-attr]
        "seconds": to_ms(done.group(2) + done.group(3)) / 1e3,  # type: ignore[union-attr]
        "req_s": float(grab(r"Requests/sec:\s+([\d.]+)").group(1)),  # type: ignore[union-attr]
        "p50_ms": to_ms(grab(r"\s50%\s+([\d.]+\w+)").group(1)),  # type: ignore[union-attr]
        "p99_ms": to_ms(grab(r"\s99%\s+([\d.]+\w+)").group(1)),  # type: ignore[union-attr]
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(g) for g in socket_errors.groups()) if socket_errors else 0,
    }


def measure(system: str, url: str, bodies: dict[int, str], work: Path, d: Durations) -> list[Load]:
    results = []
    for rows, concurrency in LOADS:
        script = lua(work / f"{system}-{rows}.lua", bodies[rows])
        wrk(url, script, concurrency, d.warmup_s)  # first requests: imports, BentoML's batch optimizer
        raw = wrk(url, script, concurrency, d.load_s)
        results.append(
            Load(system, rows, concurrency, rows_s=raw["req_s"] * rows, loadavg=os.getloadavg()[0], **raw)
        )
        errors = raw["non_2xx"] + raw["socket_errors"]
        print(f"  {system:8} {rows:>3} rows c{concurrency:<3} {raw['req_s']:8.1f} req/s", end="", flush=True)
        print(f"  p99 {raw['p99_ms']:7.1f} ms  errors {errors}", flush=True)
    return results


def sustain(
    url: str, body: str, concurrency: int, max_req_s: float, work: Path, d: Durations
) -> dict[str, Any]:
    """~80% of the maximum, held: wrk is closed-loop, so each connection waits ``delay`` ms
    after every response. The rate falls as the delay grows; bisect the delay on short
    probes until the rate is within 75-85% of the maximum, then hold it."""
    target = 0.8 * max_req_s
    low, high = 0.0, 1000 * concurrency / target  # at `high` the rate is surely below target
    probe_s = max(2, d.load_s // 4)
    delay = high / 2
    for _ in range(5):
        rate = wrk(url, lua(work / "pace.lua", body, delay), concurrency, probe_s)["req_s"]
        if 0.75 * max_req_s <= rate <= 0.85 * max_req_s:
            break
        low, high = (delay, high) if rate > target else (low, delay)
        delay = (low + high) / 2
    raw = wrk(url, lua(work / "pace.lua", body, delay), concurrency, d.sustain_s)
    return {"target_req_s": target, "max_req_s": max_req_s, "delay_ms": delay, "concurrency": concurrency,
            "share_of_max": raw["req_s"] / max_req_s, **raw}  # fmt: skip


# --- checks and report ------------------------------------------------------------------------


def check_answer(system: str, answer: list[float], expected: np.ndarray) -> None:
    worst = float(np.max(np.abs(np.asarray(answer, dtype=np.float64) - expected)))
    if len(answer) != len(expected) or worst > TOLERANCE:
        raise RuntimeError(f"{system} does not serve the same model: max difference {worst}")


def pick(loads: list[Load], system: str, rows: int, concurrency: int) -> Load:
    return next(x for x in loads if (x.system, x.rows, x.concurrency) == (system, rows, concurrency))


def targets(loads: list[Load], inproc: list[dict[str, Any]], held: dict[str, Any]) -> list[dict[str, Any]]:
    ours100, mlflow100 = pick(loads, "bentoml", 100, 32), pick(loads, "mlflow", 100, 32)
    ours1, fastapi1 = pick(loads, "bentoml", 1, 32), pick(loads, "fastapi", 1, 32)
    booster100 = next(e for e in inproc if e["batch"] == 100)["booster_rows_s"]
    held_errors = held["non_2xx"] + held["socket_errors"]
    held_name = f"{held['seconds']:.0f} s at {held['share_of_max']:.0%} of max: errors"

    def target(name: str, value: float, need: float, at_most: bool = False) -> dict[str, Any]:
        return {"target": name, "value": value, "need": need, "at_most": at_most}

    return [
        target("100-row rows/s vs mlflow serve (c32)", ours100.rows_s / mlflow100.rows_s, 5.0),
        target("1-row req/s vs FastAPI (c32)", ours1.req_s / fastapi1.req_s, 5.0),
        target("1-row p99 / FastAPI p99 (c32)", ours1.p99_ms / fastapi1.p99_ms, 1.0, at_most=True),
        target("100-row rows/s (c32) / booster predict at batch 100", ours100.rows_s / booster100, 0.25),
        target(held_name, held_errors, 0, at_most=True),
    ]


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        "# Serving benchmark",
        "",
        f"{env['when']} · {env['cpus']} CPUs · load average {env['loadavg_before']:.1f} before, "
        f"{env['loadavg_after']:.1f} after · model {result['model_version']} · wrk, closed loop, loopback"
        + (" · QUICK run (short durations)" if result["quick"] else ""),
        "",
        "| system | rows/request | concurrency | req/s | rows/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    held = result["sustained"]
    rows = [*result["loads"], {**held, "system": f"bentoml, {held['seconds']:.0f} s at ~80%", "rows": 1,
                               "rows_s": held["req_s"]}]  # fmt: skip
    for x in rows:
        errors = x["non_2xx"] + x["socket_errors"]
        lines.append(
            f"| {x['system']} | {x['rows']} | {x['concurrency']} | {x['req_s']:,.0f} | {x['rows_s']:,.0f} | "
            f"{x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {errors} |"
        )
    lines += [
        "",
        "| in process, rows/s | batch 1 | batch 100 | batch 10,000 |",
        "|---|---:|---:|---:|",
    ]  # fmt: skip
    inproc = result["in_process"]
    for key, label in [("predict_proba_rows_s", "`Model.predict_proba` (pandas + DMatrix)"),
                       ("booster_rows_s", "booster `inplace_predict` (best thread count)")]:  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(f"{e[key]:,.0f}" for e in inproc) + " |")
    lines += ["", "| target | measured | required | met |", "|---|---:|---:|:---:|"]
    for t in result["targets"]:
        sign = "≤" if t.get("at_most") else "≥"
        lines.append(
            f"| {t['target']} | {t['value']:.2f} | {sign} {t['need']:g} | {'yes' if t['met'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench"), help="folder for serving.json/.md")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test of the benchmark")
    parser.add_argument("--model-dir", type=Path, help="model folder [params: train.model_dir]")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(f"error: {WRK_HELP}", file=sys.stderr)
        return 2
    params = load_params(REPO / "params.yaml")
    model_dir = (args.model_dir or REPO / params.train.model_dir).resolve()
    if not (model_dir / "model.ubj").is_file():
        print(f"error: no model in {model_dir}: run the pipeline first (`make run`)", file=sys.stderr)
        return 2
    d = Durations.pick(args.quick)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = load(model_dir)
    frame = generate(100, 20261124)[list(FEATURES)]  # unseen rows, with the sample's nulls
    records = json.loads(frame.to_json(orient="records"))
    expected = model.predict_proba(frame)
    loadavg_before = os.getloadavg()[0]

    print("in process ...", flush=True)
    inproc = in_process(model, frame, d.inprocess_s)
    env = {
        MODEL_DIR_ENV: str(model_dir),
        PARAMS_ENV: str(REPO / "params.yaml"),
        # mlflow starts `uvicorn` by name: the environment's scripts must be on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    }
    loads: list[Load] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        ours = {n: json.dumps({"records": records[:n]}) for n in (1, 100)}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        print("our service (mlapp serving serve) ...", flush=True)
        argv = [sys.executable, "-m", "mlapp", "serving", "serve", "--port", str(port)]
        with running("bentoml", argv, f"{url}/readyz", env, out / "serving-logs"):
            answer = httpx.post(
                f"{url}/predict", content=ours[100], headers={"content-type": "application/json"}
            )
            check_answer("bentoml", [p["probability"] for p in answer.json()], expected)
            loads += measure("bentoml", f"{url}/predict", ours, work, d)
            best = max(x.req_s for x in loads if x.system == "bentoml" and x.rows == 1)
            print("  sustained run ...", flush=True)
            held = sustain(f"{url}/predict", ours[1], 32, best, work, d)
            print("in process, again ...", flush=True)  # the limit: the better of two moments
            inproc = best_of(inproc, in_process(model, frame, d.inprocess_s))

        print("mlflow models serve ...", flush=True)
        mlflow_model = save_mlflow_model(model_dir, work / "mlflow-model", pd.DataFrame(records[:20]))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(mlflow_model),
                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
        theirs = {n: json.dumps({"dataframe_records": records[:n]}) for n in (1, 100)}
        with running("mlflow", argv, f"{url}/ping", env, out / "serving-logs"):
            answer = httpx.post(
                f"{url}/invocations", content=theirs[100], headers={"content-type": "application/json"}
            )
            check_answer("mlflow", [p["probability"] for p in answer.json()["predictions"]], expected)
            loads += measure("mlflow", f"{url}/invocations", theirs, work, d)

        print("FastAPI + uvicorn ...", flush=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "uvicorn", "serving_fastapi:app", "--app-dir", str(REPO / "benchmarks"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--log-level", "warning"]  # fmt: skip
        with running("fastapi", argv, f"{url}/openapi.json", env, out / "serving-logs"):
            answer = httpx.post(
                f"{url}/predict", content=ours[100], headers={"content-type": "application/json"}
            )
            check_answer("fastapi", [p["probability"] for p in answer.json()], expected)
            loads += measure("fastapi", f"{url}/predict", ours, work, d)

    result: dict[str, Any] = {
        "quick": args.quick,
        "model_version": model.version,
        "environment": {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": loadavg_before,
            "loadavg_after": os.getloadavg()[0],
            "durations": asdict(d),
        },
        "in_process": inproc,
        "loads": [asdict(x) for x in loads],
        "sustained": held,
    }
    result["targets"] = [
        {**t, "met": t["value"] <= t["need"] if t.get("at_most") else t["value"] >= t["need"]}
        for t in targets(loads, inproc, held)
    ]
    (out / "serving.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "serving.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'serving.json'} and {out / 'serving.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
