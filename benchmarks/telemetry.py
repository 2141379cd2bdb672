"""Does ``telemetry.BulkHistogram`` (prometheus_client private attributes) pay for itself?

    uv run python benchmarks/telemetry.py [--rounds 5] [--out .bench]

In prometheus_client's multiprocess mode (how BentoML serves /metrics), each ``observe``
is two locked mmap writes. Per request of 1, 10, 100 and 1000 scores: the public
``observe`` per value vs ``BulkHistogram.observe`` (one ``inc`` per non-empty bucket), the two
alternating (odd rounds public first) for ``--rounds`` rounds. Writes ``telemetry.json``: per
size and round the microseconds of each, and the speedup (public / bulk) per round, its median
and range; the service keeps the private path only while it is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from revisions import result_head, write_result

Call = Callable[[], None]


def per_call_us(fn: Call, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def side_by_side(public: Call, bulk: Call, calls: int, rounds: int) -> dict[str, Any]:
    """Microseconds a call of each, alternating (odd rounds public first), and the speedup
    (public / bulk) per round with its median and range."""
    systems = {"observe_per_value_us": public, "bulk_us": bulk}
    timed_rounds, speedups = [], []
    for i in range(rounds):
        order = list(systems) if i % 2 == 0 else list(systems)[::-1]
        timed = {name: per_call_us(systems[name], calls) for name in order}
        speedup = timed["observe_per_value_us"] / timed["bulk_us"]
        timed_rounds.append({"first": order[0], **timed, "speedup": speedup})
        speedups.append(speedup)
    spread = {"median": statistics.median(speedups), "min": min(speedups), "max": max(speedups)}
    return {"speedup": spread, "rounds": timed_rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    head = result_head(Path(__file__).name)
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as tmp:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp  # before prometheus_client is imported
        import numpy as np
        from prometheus_client import Histogram

        from mlapp.serving.telemetry import SCORE_BUCKETS, BulkHistogram

        child = Histogram("bench_scores", "scores", ["v"], buckets=SCORE_BUCKETS).labels("x")
        bulk = BulkHistogram(child)
        assert bulk.bulk, "this prometheus_client lacks the attributes: the service already falls back"
        rng = np.random.default_rng(0)
        results = []
        for rows in (1, 10, 100, 1000):
            values = rng.random(rows)
            calls = max(200, 20_000 // rows)  # bulk at 1,000 rows takes ~30 us a call: time enough of them

            def public(v: np.ndarray = values) -> None:
                for value in v.tolist():
                    child.observe(value)

            def bulk_call(v: np.ndarray = values) -> None:
                bulk.observe(v)

            row = {"rows": rows, **side_by_side(public, bulk_call, calls, args.rounds)}
            results.append(row)
            print(json.dumps({"rows": rows, "speedup": row["speedup"]}))
    write_result({**head, "results": results}, args.out / "telemetry.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
