"""Batch-scoring benchmark: ``mlapp serving score`` on a generated file vs in-process predict.

    python benchmarks/score.py [--rows 1000000] [--out .bench]      (make bench-score)

Writes the sample table as Parquet and CSV, scores each with the real command (a child
process: its peak RSS is the child's ``ru_maxrss``), and times ``Model.predict_proba`` on
the whole table in one call (the in-process limit, all rows in memory at once).
Writes ``score.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlapp.model import load
from mlapp.params import load_params
from mlapp.sample_data import generate

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    params = load_params(REPO / "params.yaml")
    model = load(REPO / params.train.model_dir)
    result: dict[str, object] = {
        "rows": args.rows,
        "chunk_rows": params.serving.score_chunk_rows,
        "loadavg_before": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        table = generate(args.rows, 7)
        table.to_parquet(f"{tmp}/in.parquet")
        table.to_csv(f"{tmp}/in.csv", index=False)
        start = time.perf_counter()
        model.predict_proba(table)
        result["in_process_rows_s"] = args.rows / (time.perf_counter() - start)
        del table
        for fmt in ("parquet", "csv"):
            argv_ = [
                sys.executable,
                "-m",
                "mlapp",
                "serving",
                "score",
                "--input",
                f"{tmp}/in.{fmt}",
                "--output",
                f"{tmp}/out-{fmt}.parquet",
            ]
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            start = time.perf_counter()
            done = subprocess.run(argv_, cwd=REPO, capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            result[fmt] = {
                "seconds": seconds,
                "rows_s": args.rows / seconds,
                "scorer_rows_s": summary["rows_per_s"],
                "peak_rss_mb": max(peak, before) / 1024,
                "rejected": summary["rejected"],
            }
            result[f"{fmt}_vs_in_process"] = result[fmt]["rows_s"] / result["in_process_rows_s"]  # type: ignore[index]
    result["loadavg_after"] = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "score.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
