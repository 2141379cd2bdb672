"""Pipeline benchmark: cold `dvc repro` at several data sizes, no-op `dvc repro`, growth ratio.

Each size runs in a fresh `git clone` of this repository (committed HEAD), with the sample
generator writing N rows, so "cold" means an empty DVC cache and a new MLflow store.
Writes JSON (default .bench/pipeline.json; per size the load average (1, 5, 15 min) before and
after, and the no-op runs' median and range) and prints a Markdown table. Not run by tests.

    uv run python benchmarks/pipeline.py --sizes 20000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"noop_s": 2.0, "cold_100k_s": 60.0, "growth_1m_over_100k": 12.0}


def sh(*args: str, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")
    return elapsed


def measure(rows: int, noop_repeats: int, workdir: Path) -> dict[str, Any]:
    root = workdir / f"rows-{rows}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / f'mlflow-{rows}.db'}",
        # The clone's own code, not this checkout's editable install.
        "PYTHONPATH": str(root / "src"),
    }
    load_before = os.getloadavg()  # a shared machine: the load says how far wall times can be read
    sh("git", "clone", "-q", str(REPO), str(root), cwd=workdir, env=env)
    generate = sh("mlapp", "pipeline", "generate", "--rows", str(rows), cwd=root, env=env)
    sh("dvc", "add", "-q", "data", cwd=root, env=env)
    cold = sh("dvc", "repro", cwd=root, env=env)
    noop = [sh("dvc", "repro", cwd=root, env=env) for _ in range(noop_repeats)]
    stages = json.loads((root / "reports" / "validation.json").read_text())
    return {
        "rows": rows,
        "generate_s": round(generate, 2),
        "cold_repro_s": round(cold, 2),
        "noop_repro_median_s": round(statistics.median(noop), 2),
        "noop_repro_range_s": [round(min(noop), 2), round(max(noop), 2)],
        "validated_rows": stages["rows"],
        "csv_mb": round((root / "data" / "churn.csv").stat().st_size / 2**20, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_rows = {r["rows"]: r for r in results}
    summary: dict[str, Any] = {"noop_s": max(r["noop_repro_median_s"] for r in results)}
    if 100_000 in by_rows:
        summary["cold_100k_s"] = by_rows[100_000]["cold_repro_s"]
    if 100_000 in by_rows and 1_000_000 in by_rows:
        summary["growth_1m_over_100k"] = round(
            by_rows[1_000_000]["cold_repro_s"] / by_rows[100_000]["cold_repro_s"], 2
        )
    summary["meets"] = {k: v <= TARGETS[k] for k, v in summary.items() if k in TARGETS}
    return summary


def markdown(results: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = ["| rows | CSV MB | cold `dvc repro` s | no-op `dvc repro` s |", "|---:|---:|---:|---:|"]
    lines += [
        f"| {r['rows']:,} | {r['csv_mb']} | {r['cold_repro_s']} | {r['noop_repro_median_s']} |"
        for r in results
    ]
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    lines += [
        f"| {k} | {summary[k]} | {TARGETS[k]} | {'yes' if summary['meets'][k] else 'NO'} |"
        for k in TARGETS
        if k in summary
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--noop-repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(".bench/pipeline.json"))
    args = parser.parse_args()
    head = result_head(Path(__file__).name)  # the commit each clone checks out
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        results = []
        for rows in args.sizes:
            results.append(measure(rows, args.noop_repeats, Path(tmp)))
            print(f"{rows:>9,} rows: {results[-1]}", flush=True)
    summary = summarise(results)
    report = {
        **head,
        "results": results,
        "summary": summary,
        "targets": TARGETS,
    }
    write_result(report, args.out)
    args.out.with_suffix(".md").write_text(markdown(results, summary) + "\n")
    print(markdown(results, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
