"""Schema draft of a high-cardinality table: `mlapp template schema`, this checkout beside a baseline.

    nice -n 10 uv run python benchmarks/draft_scale.py --baseline REF [--rows 100000] [--repeats 3]
        [--out .bench/draft_scale.json]

A seeded table like a team's own (not the churn sample): whole numbers, decimals with 5% blanks,
and categories of 50 to 5,000 levels (Zipf-like shares, 3% blanks), a binary label. Each system
drafts FEATURES from it in a fresh process (``PYTHONPATH=<its src>``, this environment's packages;
the baseline's ``src/`` extracted with ``git archive``), the order flipping each repeat (A B, then
B A) so drifting load on a shared machine hits both. Per run: wall seconds, CPU seconds (the
child's user + sys) and peak RSS (the process sampled every 0.1 s); per system the median, min and
max; the ratio of the medians (baseline / current) and per repeat. Both drafts (stdout and
stderr) must be the same text, or the run stops: the change is to the cost, not the draft.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import yaml

from params_files import as_written, settings
from revisions import REPO, extract, params_for_old, result_head, revision, write_result

SEED = 20261205
LEVELS = (50, 200, 1_000, 5_000)


def table(rows: int, numbers: int, categories: int) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    columns: dict[str, Any] = {}
    for i in range(numbers):
        values = pd.Series(np.round(rng.normal(50, 10, rows), 0 if i % 2 == 0 else 3))
        values[rng.random(rows) < 0.05 * (i % 2)] = np.nan  # the decimals have blanks
        columns[f"num_{i}"] = values.astype("Int64") if i % 2 == 0 else values
    for j in range(categories):
        levels = LEVELS[j % len(LEVELS)]
        shares = 1 / np.arange(1, levels + 1) ** 0.8
        picked = rng.choice(levels, rows, p=shares / shares.sum())
        names = pd.Series([f"c{j}_{v:05d}" for v in range(levels)], dtype=object)[picked].reset_index(
            drop=True
        )
        names[rng.random(rows) < 0.03] = None
        columns[f"cat_{j}"] = names
    columns["label"] = rng.integers(0, 2, rows)
    return pd.DataFrame(columns)


def system_params(src_root: Path, current: dict[str, Any], raw: Path, dest: Path) -> Path:
    """This checkout's params as ``src_root``'s revision reads them, drafting ``raw``."""
    old = as_written((src_root / "params.yaml").read_text(), str(src_root / "params.yaml"))
    params = params_for_old(current, old)
    params["data"] |= {"raw": str(raw), "id_column": None, "time_column": None, "label": "label"}
    dest.write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def draft_once(src: Path, params: Path, cwd: Path) -> dict[str, Any]:
    """One draft in a fresh process: its times, peak RSS and output."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    command = [sys.executable, "-m", "mlapp", "--params", str(params), "template", "schema"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, cwd=cwd, env={"PYTHONPATH": str(src)}, stdout=out, stderr=err)
        watched, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:  # exited between poll and read
                break
            time.sleep(0.1)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0), err.seek(0)
        text = out.read().decode() + err.read().decode()
    if child.returncode:
        sys.exit(f"the draft failed under {src}:\n{text[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(peak / 2**20),
        "draft": text,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="git ref of the code before the change")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--categories", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(".bench/draft_scale.json"))
    args = parser.parse_args()
    out = args.out.resolve()
    head = result_head(Path(__file__).name)
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="bench-draft-") as tmp:
        work = Path(tmp)
        raw = work / "table.csv"
        table(args.rows, args.numbers, args.categories).to_csv(raw, index=False)
        current = settings(REPO / "params.yaml")
        base_root = extract(args.baseline, work / "baseline")
        systems = {
            "baseline": (base_root / "src", system_params(base_root, current, raw, work / "baseline.yaml")),
            "current": (REPO / "src", system_params(REPO, current, raw, work / "current.yaml")),
        }
        for repeat in range(args.repeats):
            order = list(systems) if repeat % 2 == 0 else list(systems)[::-1]
            for name in order:
                runs[name].append(draft_once(*systems[name], work))
                print(
                    f"repeat {repeat} {name}: { ({k: v for k, v in runs[name][-1].items() if k != 'draft'}) }"
                )
    drafts = {run.pop("draft") for system in runs.values() for run in system}
    if len(drafts) != 1:
        sys.exit("the baseline and the current code drafted different schemas")
    summary = {
        name: {key: spread([run[key] for run in system]) for key in ("wall_s", "cpu_s", "peak_rss_mb")}
        for name, system in runs.items()
    }
    ratios = [b["wall_s"] / c["wall_s"] for b, c in zip(runs["baseline"], runs["current"], strict=True)]
    cpu_ratios = [b["cpu_s"] / c["cpu_s"] for b, c in zip(runs["baseline"], runs["current"], strict=True)]
    result = {
        **head,
        "baseline": {"ref": args.baseline, "commit": revision(args.baseline)},
        "table": {
            "rows": args.rows,
            "numbers": args.numbers,
            "categories": args.categories,
            "levels": LEVELS,
        },
        "same_draft": True,
        "summary": summary,
        "wall_ratio_of_medians": round(
            summary["baseline"]["wall_s"]["median"] / summary["current"]["wall_s"]["median"], 2
        ),
        "wall_ratio_per_repeat": spread([round(r, 2) for r in ratios]),
        "cpu_ratio_per_repeat": spread([round(r, 2) for r in cpu_ratios]),
        "runs": runs,
    }
    write_result(result, out)
    print(
        yaml.safe_dump(
            {
                k: result[k]
                for k in ("summary", "wall_ratio_of_medians", "wall_ratio_per_repeat", "cpu_ratio_per_repeat")
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
