"""Scale benchmark: per-stage wall time and peak RSS at 1M/10M rows, train.engine local vs dask.

For each size: generate N rows once, then validate and split (engine-independent), then train
and evaluate with each engine, the engines alternating within each repeat (so load from other
users of the machine hits both). Peak RSS is the largest sum of RSS over the stage's whole
process tree (Dask workers included), sampled every 0.25 s. This machine is shared, so each
stage also records its CPU seconds (its own and its waited-for children's), the load average
before and after, and the UTC date. Writes JSON (default .bench/scale.json) and a Markdown
table next to it. Not run by tests (minutes to an hour):

    nice -n 10 uv run python benchmarks/scale.py --sizes 1000000 10000000

Long runs can be cut into pieces on a kept folder (``--root``, which holds ``rows-<N>/``):
generate/validate/split once, then train each engine on the same split, e.g.

    scale.py --root .bench/scale-rows --sizes 10000000 --stages generate validate split
    scale.py --root .bench/scale-rows --sizes 10000000 --stages train --engines dask --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

from params_files import settings
from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
MLAPP = str(Path(sys.executable).parent / "mlapp")
METRICS = ("roc_auc", "pr_auc", "log_loss")
STAGES = ("generate", "validate", "split", "train")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for member in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += member.memory_info().rss
    return total


def stage(argv: list[str], cwd: Path) -> dict[str, Any]:
    """Run one stage command; wall time, peak tree RSS and the load around it."""
    # The code snapshot taken at start (editing the checkout during a long run changes nothing).
    code = cwd.parent / "src"
    env = {**os.environ, "PYTHONPATH": str(code), "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlflow.db"}
    load_before = os.getloadavg()[0]
    used_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (cwd / "stage.log").open("ab") as log:
        popen = subprocess.Popen([MLAPP, *argv], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc, peak = psutil.Process(popen.pid), 0
    while popen.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, tree_rss(proc))
        time.sleep(0.25)
    elapsed = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    if popen.returncode:
        sys.exit(f"mlapp {' '.join(argv)} failed; see {cwd / 'stage.log'}")
    return {
        "s": round(elapsed, 2),
        # CPU seconds of the stage and everything it waited for (Dask workers included): on a
        # shared machine wall time mostly says how long the stage waited for a CPU.
        "cpu_s": round(used.ru_utime + used.ru_stime - used_before.ru_utime - used_before.ru_stime, 1),
        "peak_rss_mb": round(peak / 2**20),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
    }


def set_engine(root: Path, engine: str) -> None:
    path = root / "params.yaml"
    params = settings(path)
    params["train"]["engine"] = engine
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def measure(rows: int, engines: list[str], repeats: int, workdir: Path, stages: list[str]) -> dict[str, Any]:
    root = workdir / f"rows-{rows}"
    if not (root / "params.yaml").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result: dict[str, Any] = {"rows": rows, "stages": {}}
    for name, argv in (
        ("generate", ["pipeline", "generate", "--rows", str(rows)]),
        ("validate", ["pipeline", "validate"]),
        ("split", ["pipeline", "split"]),
    ):
        if name in stages:
            result["stages"][name] = stage(argv, root)
            print(f"{rows:>10,} {name:<9} {result['stages'][name]}", flush=True)
    if (root / "data" / "churn.csv").exists():
        result["csv_mb"] = round((root / "data" / "churn.csv").stat().st_size / 2**20)
    if "train" not in stages:
        return result
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for repeat in range(repeats):
        order = engines if repeat % 2 == 0 else engines[::-1]
        for engine in order:
            set_engine(root, engine)
            train = stage(["pipeline", "train"], root)
            evaluate = stage(["pipeline", "evaluate", "--no-mlflow"], root)
            scores = json.loads((root / "metrics" / "metrics.json").read_text())
            runs[engine].append(
                {"train": train, "evaluate": evaluate, "metrics": {k: scores[k] for k in METRICS}}
            )
            print(f"{rows:>10,} {engine:<9} train {train} evaluate {evaluate['s']} s", flush=True)
    result["engines"] = {e: summarise(r) for e, r in runs.items()}
    return result


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["train"]["s"] for r in runs]
    return {
        "train_s_median": round(statistics.median(times), 2),
        "train_s_spread": round(max(times) - min(times), 2),
        "train_peak_rss_mb": max(r["train"]["peak_rss_mb"] for r in runs),
        "evaluate_s_median": round(statistics.median(r["evaluate"]["s"] for r in runs), 2),
        "evaluate_peak_rss_mb": max(r["evaluate"]["peak_rss_mb"] for r in runs),
        "metrics": runs[-1]["metrics"],
        "runs": runs,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| rows | engine | validate s / MB | split s / MB | train s (spread) / MB "
        "| evaluate s / MB | roc_auc |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        v, s = (r["stages"].get(name, {"s": "-", "peak_rss_mb": "-"}) for name in ("validate", "split"))
        for engine, e in r.get("engines", {}).items():
            lines.append(
                f"| {r['rows']:,} | {engine} | {v['s']} / {v['peak_rss_mb']} | {s['s']} / {s['peak_rss_mb']} "
                f"| {e['train_s_median']} ({e['train_s_spread']}) / {e['train_peak_rss_mb']} "
                f"| {e['evaluate_s_median']} / {e['evaluate_peak_rss_mb']} | {e['metrics']['roc_auc']} |"
            )
    for r in results:
        if {"local", "dask"} <= set(r.get("engines", {})):
            ratio = r["engines"]["dask"]["train_s_median"] / r["engines"]["local"]["train_s_median"]
            lines.append(f"\n{r['rows']:,} rows: dask/local train time {ratio:.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    parser.add_argument("--repeats", type=int, default=2, help="train+evaluate runs per engine")
    parser.add_argument("--out", type=Path, default=Path(".bench/scale.json"))
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument(
        "--root", type=Path, default=None, help="kept folder of rows-<N>/ (default: a temp dir)"
    )
    args = parser.parse_args()
    out = args.out.resolve()
    head = result_head(Path(__file__).name)
    results = []
    with contextlib.ExitStack() as stack:
        work = args.root or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "src").exists():  # the code snapshot all pieces of one --root run use
            shutil.copytree(REPO / "src", work / "src")
        for rows in args.sizes:
            results.append(measure(rows, args.engines, args.repeats, work, args.stages))
            report = {
                **head,
                "machine": {**head["machine"], "memory_gb": round(psutil.virtual_memory().total / 2**30)},
                "results": results,
            }
            # Written after each size: a 10M run that dies still leaves the 1M numbers.
            write_result(report, out)
            out.with_suffix(".md").write_text(markdown(results) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
