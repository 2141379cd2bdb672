"""What the split stage costs with ``data.group_column``, per ``split.method`` (README.md, "Your
own data").

    nice -n 10 uv run python benchmarks/split_groups.py [--rows 1000000] [--group-rows 4]
        [--repeats 1] [--out benchmarks/results]

Generates ``--rows`` rows of the sample process (``mlapp pipeline generate``), adds a column
``household`` naming a group of ``--group-rows`` consecutive rows, validates once with
``data.group_column: household``, then runs ``mlapp pipeline split`` with each of ``hash``,
``stratified`` and ``time``, the methods' order reversed every other repeat (so load from other
users of the machine hits each). Each split is timed as benchmarks/scale.py times a stage: wall
and CPU seconds, peak RSS of its process tree, the load average before and after. Writes
``split_groups.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from params_files import settings
from revisions import REPO, result_head, write_result
from scale import stage

METHODS = ("hash", "stratified", "time")
GROUP = "household"


def set_params(root: Path, **split: Any) -> None:
    """``root``'s params.yaml with the group column and ``split`` settings."""
    path = root / "params.yaml"
    params = settings(path)
    params["data"]["group_column"] = GROUP
    params["split"].update(split)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def add_groups(csv: Path, group_rows: int) -> int:
    """``csv`` with a ``household`` column of ``group_rows`` consecutive rows each; the groups."""
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)  # every other value as written
    table[GROUP] = [f"H{i // group_rows}" for i in range(len(table))]
    table.to_csv(csv, index=False)
    return int(table[GROUP].nunique())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--group-rows", type=int, default=4, help="rows per group [4]")
    parser.add_argument("--repeats", type=int, default=1, help="splits per method [1]")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results", help="[benchmarks/results]"
    )
    args = parser.parse_args(argv)
    head = result_head(Path(__file__).name)
    runs: dict[str, list[dict[str, Any]]] = {method: [] for method in METHODS}
    with tempfile.TemporaryDirectory(prefix="bench-split-groups-") as tmp:
        shutil.copytree(REPO / "src", Path(tmp) / "src")  # scale.stage runs this snapshot
        (root := Path(tmp) / "rows").mkdir()
        shutil.copy(REPO / "params.yaml", root / "params.yaml")
        set_params(root)
        stage(["pipeline", "generate", "--rows", str(args.rows)], root)
        groups = add_groups(root / settings(root / "params.yaml")["data"]["raw"], args.group_rows)
        validate = stage(["pipeline", "validate"], root)
        print(f"{args.rows:,} rows, {groups:,} groups; validate {validate}", flush=True)
        for repeat in range(args.repeats):
            for method in METHODS if repeat % 2 == 0 else METHODS[::-1]:
                set_params(root, method=method)
                runs[method].append(stage(["pipeline", "split"], root))
                print(f"{method:<10} {runs[method][-1]}", flush=True)
    result = {
        **head,
        "rows": args.rows,
        "groups": groups,
        "group_rows": args.group_rows,
        "validate": validate,
        "split_s_median": {m: statistics.median(r["s"] for r in runs[m]) for m in METHODS},
        "split_cpu_s_median": {m: statistics.median(r["cpu_s"] for r in runs[m]) for m in METHODS},
        "split_peak_rss_mb_max": {m: max(r["peak_rss_mb"] for r in runs[m]) for m in METHODS},
        "runs": runs,
    }
    write_result(result, args.out / "split_groups.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
