"""Batch-scoring benchmark: ``mlapp serving score`` on a generated file vs in-process predict.

    uv run python benchmarks/score.py [--rows 1000000] [--repeats 3] [--out .bench]      (make bench-score)

Writes the sample table as Parquet and CSV, scores each with the real command (a child
process: its peak RSS is that child's own ``ru_maxrss``, started from a small launcher: a child
started from this process, which holds the table, would report this process's peak), and times
``Model.predict_proba`` on the whole table in one call (the in-process limit, all rows in
memory at once). The three run ``--repeats`` times, their order rotating each repeat, so load
from other users of the machine hits each alike. Writes ``score.json`` to ``--out``: every run,
and per format the median and range of rows/s, peak RSS and the ratio to in-process predict of
the same repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_http import model_missing
from mlapp.model import load
from mlapp.params import load_params
from mlapp.sample_data import generate
from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("parquet", "csv")


# Runs the command as its own child and writes that child's peak RSS (KiB) to argv[1]. A child
# started from this process would start from this process's peak: Linux counts the memory a
# vfork()ed child shares before its exec, so ru_maxrss would report the generated table's
# memory held here. This launcher is small, so its child's own figure is what is left.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(child.returncode)
"""


def run_child(argv: list[str], cwd: Path) -> tuple[str, float, float]:
    """The command's stdout, wall seconds and its own peak RSS in MB."""
    with tempfile.TemporaryDirectory(prefix="bench-score-child-") as tmp:
        peak = Path(tmp) / "peak"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(peak), *argv], cwd=cwd, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr}")
        return done.stdout, seconds, int(peak.read_text()) / 1024  # KiB on Linux


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2
    params = load_params(REPO / "params.yaml")
    model = load(REPO / params.train.model_dir)
    systems = ("in_process", *FORMATS)
    runs: list[dict[str, Any]] = []
    head = result_head(Path(__file__).name)
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        table = generate(args.rows, 7)
        table.to_parquet(f"{tmp}/in.parquet")
        table.to_csv(f"{tmp}/in.csv", index=False)
        for repeat in range(args.repeats):
            order = systems[repeat % 3 :] + systems[: repeat % 3]
            run: dict[str, Any] = {"order": list(order)}
            for system in order:
                if system == "in_process":
                    start = time.perf_counter()
                    model.predict_proba(table)
                    run[system] = {"rows_s": args.rows / (time.perf_counter() - start)}
                    continue
                command = [sys.executable, "-m", "mlapp", "serving", "score"]
                command += ["--input", f"{tmp}/in.{system}", "--output", f"{tmp}/out-{system}.parquet"]
                stdout, seconds, peak_mb = run_child(command, REPO)
                summary = json.loads(stdout.strip().splitlines()[-1])
                run[system] = {
                    "seconds": seconds,
                    "rows_s": args.rows / seconds,
                    "scorer_rows_s": summary["rows_per_s"],
                    "peak_rss_mb": peak_mb,
                    "rejected": summary["rejected"],
                }
            for fmt in FORMATS:
                run[f"{fmt}_vs_in_process"] = run[fmt]["rows_s"] / run["in_process"]["rows_s"]
            runs.append(run)
            print(json.dumps(run), flush=True)
    result: dict[str, Any] = {
        **head,
        "rows": args.rows,
        "repeats": args.repeats,
        "chunk_rows": params.serving.score_chunk_rows,
        "in_process_rows_s": spread([r["in_process"]["rows_s"] for r in runs]),
    }
    for fmt in FORMATS:
        result[fmt] = {key: spread([r[fmt][key] for r in runs]) for key in ("rows_s", "peak_rss_mb")}
        result[f"{fmt}_vs_in_process"] = spread([r[f"{fmt}_vs_in_process"] for r in runs])
    result["runs"] = runs
    write_result(result, args.out / "score.json")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
