"""The monitor on large labeled batches: before and after metric decay's bootstrap by cell.

    nice -n 10 uv run python benchmarks/monitor_scale.py [--repeats 3] [--out DIR]

Needs the pipeline's outputs in the checkout (``make run``): the model, the split tables and
metrics.json, the monitor's reference. Three parts, each run in a fresh process (wall time
includes start-up and imports; peak RSS is the process's own ``ru_maxrss``):

- ``monitor``: ``mlapp monitor run`` on a labeled batch of ``--compare-rows`` rows of the
  sample process (``mlapp pipeline generate --new-customers``), the code before the change
  (``src/`` of ``--old-ref``, with params.yaml less the settings its own lacks, such as
  ``monitor.decay_bootstrap_rows``) and the
  current code alternating, ``--repeats`` times each: wall time, peak RSS, their ratio per
  repeat and its spread, and whether both wrote the same decay rows (the same intervals);
- ``monitor_large``: the current code on ``--large-rows`` rows;
- ``decay``: metric decay's bootstrap alone on ``--large-rows`` synthetic rows per task
  (continuous scores: no two rows alike, the worst case for cells), the current code, and
  the previous computation (``bootstrap.resampled``: every metric of the task over every row)
  against the current one on ``--compare-rows`` rows, alternating;
- ``subset`` (not by default: ten minutes and more): on ``--large-rows`` synthetic rows, binary
  and regression, the interval above ``monitor.decay_bootstrap_rows`` (a subset, its spread
  scaled) against the full bootstrap of every row, by how much of the full interval's width
  each end moved.

Writes ``monitor_scale.json`` (default benchmarks/results; ``monitor_scale-subset.json`` for
``--parts subset`` alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from params_files import as_written, settings
from revisions import params_for_old, require_ref, result_head, write_result

REPO = Path(__file__).resolve().parents[1]
NEW_FILE = "src/mlapp/monitor/resampling.py"
# What a team watches per task: binary as params.yaml ships; log_loss keeps every multiclass row.
WATCHED = {
    "binary": ["pr_auc", "roc_auc"],
    "multiclass": ["f1_macro", "log_loss"],
    "regression": ["mae", "rmse"],
}
CLASSES = ["a", "b", "c"]
RESAMPLES, SEED, MAX_ROWS = 1000, 20261123, 200_000  # report.bootstrap_*, monitor.decay_bootstrap_rows


def synthetic(task: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    if task == "binary":
        y = (rng.random(rows) < 0.2).astype(np.int64)
        return y, np.clip(0.25 * y + 0.75 * rng.random(rows), 0, 1)
    if task == "multiclass":
        y = rng.integers(0, len(CLASSES), rows)
        logits = 1.5 * np.eye(len(CLASSES))[y] + rng.normal(0, 1, (rows, len(CLASSES)))
        return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    values = rng.normal(50, 10, rows)
    return values, values + rng.normal(0, 5, rows)


def decay_worker(task: str, rows: int, way: str) -> dict[str, Any]:
    """One decay bootstrap (timed from here: the data is generated first) and its intervals."""
    from mlapp.monitor import resampling
    from mlapp.report.bootstrap import percentile_interval, resampled

    y, scores = synthetic(task, rows)
    classes = CLASSES if task == "multiclass" else []
    start = time.perf_counter()
    if way == "old":
        values = resampled(y, (scores, 0.5), RESAMPLES, SEED, task, classes)
    else:
        values = resampling.resampled(
            y, (scores, 0.5), resamples=RESAMPLES, seed=SEED, task=task, classes=classes,
            names=WATCHED[task], max_rows=MAX_ROWS,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "s": round(seconds, 4),  # 2 places read 0.0 at a few hundred rows: a ratio divided by it
        "intervals": {m: percentile_interval(values[m], 0.95) for m in WATCHED[task]},
    }


def worker(argv: list[str]) -> None:
    """In the child: run one measurement, then write its peak RSS (and result) as JSON."""
    out, kind, *rest = argv
    result: dict[str, Any] = {}
    try:
        if kind == "decay":
            result = decay_worker(rest[0], int(rest[1]), rest[2])
        else:
            sys.argv = ["mlapp", *rest]
            runpy.run_module("mlapp", run_name="__main__")
    except SystemExit as exc:
        result["exit"] = exc.code
    finally:
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        Path(out).write_text(json.dumps(result))


def measured(kind: list[str], tmp: Path, pythonpath: Path | None = None) -> dict[str, Any]:
    out = tmp / "measured.json"
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--worker", str(out), *kind], cwd=REPO, env=env, check=True)
    return {"wall_s": round(time.perf_counter() - start, 2), **json.loads(out.read_text())}


def old_code(ref: str | None, tmp: Path) -> tuple[str, Path, Path]:
    """The src/ tree before the change and params.yaml as it reads them (``params_for_old``)."""
    if ref is None:  # the parent of the commit that added the module
        added = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%H", "--", NEW_FILE],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        ref = f"{added[-1]}^"
    require_ref(ref)
    commit = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True)
    sha = commit.stdout.strip()
    archive = subprocess.run(["git", "archive", sha, "src"], cwd=REPO, capture_output=True, check=True)
    (tmp / "old").mkdir()
    subprocess.run(["tar", "-x", "-C", str(tmp / "old")], input=archive.stdout, check=True)
    show = ["git", "show", f"{sha}:params.yaml"]
    old = as_written(
        subprocess.run(show, cwd=REPO, capture_output=True, text=True, check=True).stdout, show[2]
    )
    params = params_for_old(settings(REPO / "params.yaml"), old)
    (tmp / "old" / "params.yaml").write_text(yaml.safe_dump(params))
    return sha, tmp / "old" / "src", tmp / "old" / "params.yaml"


def batch(rows: int, tmp: Path) -> Path:
    path = tmp / f"batch-{rows}.csv"
    if not path.exists():
        generate = [
            "pipeline",
            "generate",
            "--rows",
            str(rows),
            "--seed",
            "7",
            "--new-customers",
            "--out",
            str(path),
        ]
        subprocess.run([sys.executable, "-m", "mlapp", *generate], cwd=REPO, check=True)
    return path


def monitor_run(source: Path, tmp: Path, way: str, params: Path | None = None) -> list[str]:
    chosen = ["--params", str(params)] if params else []
    reports = ["--json", str(tmp / f"{way}.json"), "--markdown", str(tmp / f"{way}.md")]
    return [*chosen, "monitor", "run", "--exit-zero", "--source", str(source), *reports]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def compare_monitor(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sha, old_src, old_params = old_code(args.old_ref, tmp)
    source = batch(args.compare_rows, tmp)
    runs: list[dict[str, Any]] = []
    for _ in range(args.repeats):
        old = measured(["monitor", *monitor_run(source, tmp, "old", old_params)], tmp, old_src)
        old_decay = json.loads((tmp / "old.json").read_text())["decay"]
        new = measured(["monitor", *monitor_run(source, tmp, "new")], tmp)
        new_decay = json.loads((tmp / "new.json").read_text())["decay"]
        runs.append({"old": old, "new": new, "same_decay": old_decay == new_decay, "decay": new_decay})
    ratios = [r["old"]["wall_s"] / r["new"]["wall_s"] for r in runs]
    return {
        "rows": args.compare_rows,
        "old_ref": sha,
        "old_wall_s": spread([r["old"]["wall_s"] for r in runs]),
        "new_wall_s": spread([r["new"]["wall_s"] for r in runs]),
        "ratio_old_to_new": spread(ratios),
        "old_peak_rss_mb": max(r["old"]["peak_rss_mb"] for r in runs),
        "new_peak_rss_mb": max(r["new"]["peak_rss_mb"] for r in runs),
        "same_decay_every_repeat": all(r["same_decay"] for r in runs),
        "runs": runs,
    }


def decay_tasks(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for task in WATCHED:
        pairs = [
            {way: measured(["decay", task, str(args.compare_rows), way], tmp) for way in ("old", "new")}
            for _ in range(args.repeats)
        ]
        out[task] = {
            "watched": WATCHED[task],
            "compare_rows": args.compare_rows,
            "ratio_old_to_new": spread([p["old"]["s"] / p["new"]["s"] for p in pairs]),
            "compare_runs": pairs,
            "large_rows": args.large_rows,
            "large": measured(["decay", task, str(args.large_rows), "new"], tmp),
        }
    return out


def subset_vs_full(rows: int) -> dict[str, Any]:
    from mlapp.monitor.resampling import resampled
    from mlapp.report.bootstrap import percentile_interval

    out: dict[str, Any] = {"rows": rows}
    for task in ("binary", "regression"):
        y, scores = synthetic(task, rows)
        start = time.perf_counter()
        full = resampled(y, (scores, 0.5), RESAMPLES, SEED, task, [], WATCHED[task])
        full_s, start = time.perf_counter() - start, time.perf_counter()
        part = resampled(
            y, (scores, 0.5), resamples=RESAMPLES, seed=SEED, task=task, classes=[],
            names=WATCHED[task], max_rows=MAX_ROWS,
        )  # fmt: skip
        part_s = time.perf_counter() - start
        for m in WATCHED[task]:
            (low, high), (sub_low, sub_high) = (
                percentile_interval(full[m], 0.95),
                percentile_interval(part[m], 0.95),
            )
            out[f"{task}.{m}"] = {
                "full": [low, high],
                "subset": [sub_low, sub_high],
                "ends_moved_share_of_width": [
                    round((e - f) / (high - low), 3) for e, f in ((sub_low, low), (sub_high, high))
                ],
                "full_s": round(full_s, 1),
                "subset_s": round(part_s, 1),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-rows", type=int, default=200_000)
    parser.add_argument("--large-rows", type=int, default=2_000_000)
    parser.add_argument(
        "--old-ref", help="the code before the change (default: the parent of the commit adding it)"
    )
    parser.add_argument("--parts", nargs="+", default=["monitor", "monitor_large", "decay"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    from bench_http import model_missing  # here, not at the top: the measured workers skip it

    if {"monitor", "monitor_large"} & set(args.parts) and (missing := model_missing()):
        print(missing, file=sys.stderr)
        sys.exit(2)
    result = {**result_head(Path(__file__).name), "resamples": RESAMPLES}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if "monitor" in args.parts:
            result["monitor"] = compare_monitor(args, tmp)
        if "monitor_large" in args.parts:
            source = batch(args.large_rows, tmp)
            large = measured(["monitor", *monitor_run(source, tmp, "new")], tmp)
            decay = json.loads((tmp / "new.json").read_text())["decay"]
            result["monitor_large"] = {"rows": args.large_rows, **large, "decay": decay}
        if "decay" in args.parts:
            result["decay"] = decay_tasks(args, tmp)
        if "subset" in args.parts:
            result["subset"] = subset_vs_full(args.large_rows)
    write_result(result, args.out / f"monitor_scale{'-subset' if args.parts == ['subset'] else ''}.json")
    print(json.dumps({k: v for k, v in result.items() if k != "decay"}, indent=2, default=str)[:3000])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
    else:
        main()
