"""Does ``telemetry.BulkHistogram`` (prometheus_client private attributes) pay for itself?

    python benchmarks/telemetry.py [--out .bench]

In prometheus_client's multiprocess mode (how BentoML serves /metrics), each ``observe``
is two locked mmap writes. Per request of 1, 10, 100 and 1000 scores: the public
``observe`` per value vs ``BulkHistogram.observe`` (one ``inc`` per non-empty bucket).
Writes ``telemetry.json``; the service keeps the private path only while it is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def per_call_us(fn: object, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
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
            calls = max(20, 20_000 // rows)

            def public(v: np.ndarray = values) -> None:
                for value in v.tolist():
                    child.observe(value)

            row = {
                "rows": rows,
                "observe_per_value_us": per_call_us(public, calls),
                "bulk_us": per_call_us(lambda v=values: bulk.observe(v), calls),
            }
            row["speedup"] = row["observe_per_value_us"] / row["bulk_us"]
            results.append(row)
            print(json.dumps(row))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "telemetry.json").write_text(
        json.dumps({"loadavg": os.getloadavg()[0], "results": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
