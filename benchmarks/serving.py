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
Its parts: the systems under test (benchmarks/serving_systems.py), the load driver
(benchmarks/serving_load.py) and the targets and tables written (benchmarks/serving_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_http import REPO, model_missing, wrk_missing
from revisions import result_head, write_result
from serving_load import checks, run_all
from serving_report import markdown, targets
from serving_systems import SYSTEMS, Bench


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
