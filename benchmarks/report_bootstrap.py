"""The PR report's paired bootstrap at scale: this checkout's code against a baseline commit's.

    nice -n 10 uv run python benchmarks/report_bootstrap.py --baseline REF [--rows 20000 100000]
        [--repeats 3] [--large-repeats 2] [--resamples 1000] [--out DIR]

``mlapp.report.bootstrap.paired_deltas`` (what ``mlapp report run`` computes the intervals with)
on synthetic test sets: binary, multiclass (5 classes) and regression, each size of ``--rows``;
both models' scores differ a little, as a PR's do. Each measurement runs in a fresh process
with ``src/`` of this checkout or of ``--baseline`` first on PYTHONPATH; the two alternate (which
goes first swaps every repeat). ``--repeats`` times each below 100,000 rows, ``--large-repeats``
from there (the baseline takes minutes there). Per case: seconds of each, baseline / current per
repeat (the ratio) with its spread, peak RSS of each process (``ru_maxrss``, imports included, and
before the call), and whether both gave the same intervals to report.json's 6 decimals.

Writes ``report_bootstrap.json`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from revisions import extract, result_head, revision, write_result

REPO = Path(__file__).resolve().parents[1]
TASKS = ("binary", "multiclass", "regression")
CLASSES = ["a", "b", "c", "d", "e"]
SEED, CONFIDENCE, LARGE = 20261123, 0.95, 100_000  # report.bootstrap_seed, report.confidence


def synthetic(task: str, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' scores: the PR's a little better, as a PR's usually is."""
    rng = np.random.default_rng(rows)
    if task == "binary":
        y = (rng.random(rows) < 0.3).astype(np.int64)
        base, pr = (np.clip(0.3 + s * (y - 0.3) + rng.normal(0, 0.2, rows), 0, 1) for s in (0.3, 0.32))
        return y, np.round(base, 3), pr  # the base's rounded: tied scores, as a coarse model gives
    if task == "multiclass":
        y = rng.integers(0, len(CLASSES), rows)

        def proba(signal: float) -> np.ndarray:
            logits = signal * np.eye(len(CLASSES))[y] + rng.normal(0, 1, (rows, len(CLASSES)))
            return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

        return y, proba(1.0), proba(1.05)
    values = rng.normal(100, 20, rows)
    return values, values + rng.normal(0, 5, rows), values + rng.normal(0, 4.9, rows)


def worker(out: str, task: str, rows: int, resamples: int) -> None:
    """In the child: one paired bootstrap, timed from after the data is made; then peak RSS."""
    from mlapp.report import bootstrap

    y, base, pr = synthetic(task, rows)
    classes = CLASSES if task == "multiclass" else []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    deltas = bootstrap.paired_deltas(y, (base, 0.5), (pr, 0.5), resamples, SEED, task, classes)
    seconds = time.perf_counter() - start
    intervals = {
        m: [round(v, 6) for v in bootstrap.percentile_interval(d, CONFIDENCE)] for m, d in deltas.items()
    }
    result = {
        "s": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_call_mb": round(before / 1024),
        "module": bootstrap.__file__,
        "intervals": intervals,
    }
    Path(out).write_text(json.dumps(result))


def measured(src: Path, task: str, rows: int, resamples: int, tmp: Path) -> dict[str, Any]:
    out = tmp / "measured.json"
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", str(out), task, str(rows), str(resamples)]
    subprocess.run(command, cwd=REPO, env=env, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    if not result.pop("module").startswith(str(src)):
        raise SystemExit(f"error: the worker did not import the bootstrap from {src}")
    return result


def case(
    sources: dict[str, Path], task: str, rows: int, repeats: int, resamples: int, tmp: Path
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    for repeat in range(repeats):
        order = ["baseline", "current"] if repeat % 2 == 0 else ["current", "baseline"]
        for who in order:
            runs[who].append(measured(sources[who], task, rows, resamples, tmp))
            print(f"{task} {rows:,} rows, {who}: {runs[who][-1]['s']} s", file=sys.stderr)
    ratios = [b["s"] / c["s"] for b, c in zip(runs["baseline"], runs["current"], strict=True)]
    return {
        "task": task,
        "rows": rows,
        "resamples": resamples,
        "repeats": repeats,
        "seconds": {who: [r["s"] for r in runs[who]] for who in runs},
        "peak_rss_mb": {who: max(r["peak_rss_mb"] for r in runs[who]) for who in runs},
        "rss_before_call_mb": {who: max(r["rss_before_call_mb"] for r in runs[who]) for who in runs},
        "ratio_baseline_over_current": {
            "median": round(statistics.median(ratios), 2),
            "min": round(min(ratios), 2),
            "max": round(max(ratios), 2),
            "each": [round(r, 2) for r in ratios],
        },
        "same_intervals_6_decimals": all(
            b["intervals"] == c["intervals"] for b, c in zip(runs["baseline"], runs["current"], strict=True)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision whose bootstrap is the baseline")
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=2, help=f"repeats from {LARGE:,} rows")
    parser.add_argument("--resamples", type=int, default=1000, help="report.bootstrap_resamples")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    result = result_head("report_bootstrap.py")
    result["baseline"] = revision(args.baseline)
    with tempfile.TemporaryDirectory(prefix="report_bootstrap-") as folder:
        tmp = Path(folder)
        sources = {"baseline": extract(args.baseline, tmp / "baseline") / "src", "current": REPO / "src"}
        result["cases"] = [
            case(
                sources,
                task,
                rows,
                args.large_repeats if rows >= LARGE else args.repeats,
                args.resamples,
                tmp,
            )
            for rows in args.rows
            for task in TASKS
        ]
    write_result(result, args.out / "report_bootstrap.json")
    for c in result["cases"]:
        ratio = c["ratio_baseline_over_current"]
        print(
            f"{c['task']} {c['rows']:,}: x{ratio['median']} ({ratio['min']}-{ratio['max']}), {c['seconds']}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
