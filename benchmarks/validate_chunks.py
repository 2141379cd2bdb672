"""Validate's cost per chunk: the code before a change (``--baseline``) and this checkout's, alternating.

    nice -n 10 uv run python benchmarks/validate_chunks.py [--baseline REF] [--rounds 5]

``src/`` of ``--baseline`` is extracted (``revisions.extract``) and run with this environment's
packages (``PYTHONPATH``), as cli_latency.py does; both read this checkout's params.yaml with only
the chunk size changed. Each round runs every case once per system, the systems alternating (the
first of a round alternating too), each in a fresh process that validates once unmeasured (imports,
first calls) and then ``--repeats`` times, keeping its least CPU time (``time.process_time``, user +
system: the machine is shared). Cases, on sample tables (``mlapp.sample_data.generate``):

- ``small``: ``--small-rows`` rows in chunks of ``--small-chunk`` (the chunk tests' sizes), and the
  same table as one chunk: the fixed cost per chunk is the difference over the extra chunks;
- ``small_failing``: that table with bad values (a word, a range, times with a UTC offset on a few
  rows): the failure report must be the same;
- ``default``: ``--big-rows`` rows at params.yaml's ``validate.chunk_rows``: what it means for a user;
- ``monitor``: the monitor's check of a batch (``BatchCheck``) in chunks of ``--small-chunk``.

Each case also records a digest of what it wrote (validate's report and typed Parquet file, the
monitor's problems and typed rows): old and new must agree. Writes JSON (default
benchmarks/results/validate_chunks.json).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revisions import REPO, extract, result_head, revision, write_result

BASELINE = "cea7e2b"  # main before validate's per-chunk witnesses were cut


def _params(chunk_rows: int, monitor: bool) -> Any:
    from mlapp.params import load_params

    params = load_params(REPO / "params.yaml")
    if monitor:
        return params.model_copy(
            update={"monitor": params.monitor.model_copy(update={"chunk_rows": chunk_rows})}
        )
    return params.model_copy(
        update={"validate_": params.validate_.model_copy(update={"chunk_rows": chunk_rows})}
    )


def _validate(source: Path, chunk_rows: int, out: Path) -> str:
    """One validate run; the digest of its report and typed table (or its failure report)."""
    from mlapp.stages import validate

    report, table = out / "report.json", out / "validated.parquet"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        validate.run(_params(chunk_rows, False), source=source, output=table, report=report)
    digest = hashlib.sha256(report.read_bytes())
    if table.exists():
        digest.update(table.read_bytes())
    return f"{json.loads(report.read_text())['status']} {digest.hexdigest()}"


def _monitor(source: Path, chunk_rows: int, out: Path) -> str:
    """The monitor's check of ``source`` as a batch, chunk by chunk; the digest of its problems and
    typed rows."""
    import pandas as pd

    from mlapp.monitor.checks import BatchCheck
    from mlapp.raw_table import read_raw_chunks

    params = _params(chunk_rows, True)
    check, digest = BatchCheck(params), hashlib.sha256()
    for chunk in read_raw_chunks(source, chunk_rows, params.data.missing_values, ","):
        typed = check.add(chunk)
        digest.update(pd.util.hash_pandas_object(typed).to_numpy().tobytes())
    digest.update(json.dumps([p.__dict__ for p in check.problems()], default=str).encode())
    return f"{'failed' if check.problems() else 'passed'} {digest.hexdigest()}"


def worker(case: str, source: Path, chunk_rows: int, repeats: int) -> None:
    """Run in the measured process: prints the least CPU seconds of ``repeats`` runs and the digest."""
    run = _monitor if case == "monitor" else _validate
    with tempfile.TemporaryDirectory() as tmp:
        digest = run(source, chunk_rows, Path(tmp))  # unmeasured: imports, first calls
        times = []
        for _ in range(repeats):
            start = time.process_time()
            run(source, chunk_rows, Path(tmp))
            times.append(time.process_time() - start)
    print(json.dumps({"cpu_s": min(times), "digest": digest}))


def _measure(src: Path, case: str, source: Path, chunk_rows: int, repeats: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", case, str(source), str(chunk_rows), str(repeats)]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).parent}"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _tables(work: Path, small: int, big: int) -> dict[str, Path]:
    from mlapp import sample_data

    frame = sample_data.generate(small, 7)
    paths = {
        "small": work / "small.csv",
        "small_failing": work / "small_failing.csv",
        "default": work / "big.csv",
    }
    sample_data.write(frame, paths["small"], ",", ".")
    bad = frame.astype({"age": object, "tenure_months": object, "event_time": object})
    bad.loc[[3, 250, 1700], "age"] = ["forty", "200", "7"]
    bad.loc[[40, 2900], "tenure_months"] = ["12.5", "?"]
    zoned = [10, 11, 1500]  # the fewer kind: these fail
    bad.loc[zoned, "event_time"] = frame.loc[zoned, "event_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    sample_data.write(bad, paths["small_failing"], ",", ".")
    sample_data.write(sample_data.generate(big, 8), paths["default"], ",", ".")
    return paths


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small-rows", type=int, default=3000)
    parser.add_argument("--small-chunk", type=int, default=100)
    parser.add_argument("--big-rows", type=int, default=500_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/validate_chunks.json")
    args = parser.parse_args()
    from mlapp.params import load_params

    default_chunk = load_params(REPO / "params.yaml").validate_.chunk_rows
    many = -(-args.small_rows // args.small_chunk)
    runs = {  # name: (case, table, chunk rows, chunks)
        "small": ("validate", "small", args.small_chunk, many),
        "small_whole": ("validate", "small", args.small_rows, 1),
        "small_failing": ("validate", "small_failing", args.small_chunk, many),
        "monitor": ("monitor", "small", args.small_chunk, many),
        "monitor_whole": ("monitor", "small", args.small_rows, 1),
        "default": ("validate", "default", default_chunk, -(-args.big_rows // default_chunk)),
    }
    result = result_head("validate_chunks.py")
    result["baseline"] = revision(args.baseline)
    measured: dict[str, dict[str, list[dict[str, Any]]]] = {name: {"old": [], "new": []} for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        systems = {"old": extract(args.baseline, work / "old") / "src", "new": REPO / "src"}
        tables = _tables(work, args.small_rows, args.big_rows)
        for round_ in range(args.rounds):
            order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
            for name, (case, table, chunk_rows, _) in runs.items():
                for system in order:
                    found = _measure(systems[system], case, tables[table], chunk_rows, args.repeats)
                    measured[name][system].append(found)
                    print(f"round {round_ + 1} {name} {system}: {found['cpu_s']:.3f} s", file=sys.stderr)
    cases: dict[str, Any] = {}
    for name, (_, table, chunk_rows, chunks) in runs.items():
        old, new = ([m["cpu_s"] for m in measured[name][s]] for s in ("old", "new"))
        digests = {m["digest"] for s in ("old", "new") for m in measured[name][s]}
        cases[name] = {
            "rows": args.big_rows if table == "default" else args.small_rows,
            "chunk_rows": chunk_rows,
            "chunks": chunks,
            "cpu_s": {"old": _spread(old), "new": _spread(new)},
            "cpu_s_per_chunk": {
                "old": statistics.median(old) / chunks,
                "new": statistics.median(new) / chunks,
            },
            "ratio_new_over_old": _spread([n / o for n, o in zip(new, old, strict=True)]),
            "same_output": len(digests) == 1,
            "status": sorted({digest.split()[0] for digest in digests}),
        }
    for name in ("small", "monitor"):  # the fixed part: what each chunk past the first adds
        many, whole = measured[name], measured[f"{name}_whole"]
        extra = runs[name][3] - 1
        fixed = {
            s: [(m["cpu_s"] - w["cpu_s"]) / extra for m, w in zip(many[s], whole[s], strict=True)]
            for s in ("old", "new")
        }
        cases[name]["fixed_s_per_chunk"] = {s: _spread(v) for s, v in fixed.items()}
        cases[name]["fixed_ratio_new_over_old"] = _spread(
            [n / o for n, o in zip(fixed["new"], fixed["old"], strict=True)]
        )
    result.update({"rounds": args.rounds, "repeats": args.repeats, "cases": cases})
    write_result(result, args.out)
    print(json.dumps(cases, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
