"""The one CSV reader (``mlapp.tables.read_csv``) of this checkout beside an older revision's.

    nice -n 10 uv run python benchmarks/csv_read.py --baseline REF [--rows N] [--repeats 5] [--out .bench]

Writes the sample table as data.raw is written (no quotes), a copy with every text value
quoted (``csv.QUOTE_NONNUMERIC``, as some exports write) and one whose last line is cut after
its third field (a partial upload), then reads each whole, validate's ``chunk_rows`` at a
time, in a fresh process per read: this checkout's ``src/`` and the baseline's (extracted)
alternating, the order flipped every repeat. Writes ``csv_read.json`` to ``--out``: per file
and revision the median, min and max seconds (to the refusal, if refused) and the rows read
(-1: refused), and the ratio this/baseline per repeat with its median and range.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mlapp.params import load_params
from mlapp.sample_data import generate, write
from revisions import extract, result_head, revision, write_result

REPO = Path(__file__).resolve().parents[1]
READ = """
import sys, time
from mlapp.tables import read_csv
start = time.perf_counter()
try:
    rows = sum(len(chunk) for chunk in read_csv(sys.argv[1], sys.argv[2].split("|"), int(sys.argv[3]), ","))
except ValueError:  # refused (pandas' ParserError)
    rows = -1
print(rows, time.perf_counter() - start)
"""


def timed(src: Path, path: Path, missing: list[str], rows: int) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", READ, str(path), "|".join(missing), str(rows)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return int(out[0]), float(out[1])


def last_line(path: Path) -> bytes:
    """The file's last line, its line break included."""
    with path.open("rb") as handle:
        handle.seek(-4096, 2)
        return handle.read().rstrip(b"\n").rsplit(b"\n", 1)[1] + b"\n"


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the git revision to compare with")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    params = load_params(REPO / "params.yaml")
    missing, chunk = params.data.missing_values, params.validate_.chunk_rows
    head = result_head(Path(__file__).name)
    systems = {"this": REPO / "src", "baseline": Path()}
    seconds: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-csv-read-") as tmp:
        systems["baseline"] = extract(args.baseline, Path(tmp) / "old") / "src"
        table = generate(args.rows, 7)
        files = {name: Path(tmp) / f"{name}.csv" for name in ("plain", "quoted", "cut")}
        write(table, files["plain"], ",", ".")
        table.to_csv(files["quoted"], index=False, quoting=csv.QUOTE_NONNUMERIC)
        del table
        with files["plain"].open("rb") as plain, files["cut"].open("wb") as cut:
            last = last_line(files["plain"])
            cut.write(plain.read()[: -len(last)] + b",".join(last.split(b",")[:3]))
        seconds = {name: {system: [] for system in systems} for name in files}
        read: dict[str, dict[str, set[int]]] = {name: {system: set() for system in systems} for name in files}
        for repeat in range(args.repeats):
            order = list(systems) if repeat % 2 == 0 else list(systems)[::-1]
            for name, path in files.items():
                for system in order:  # alternating: drift and other users of the machine hit both
                    rows, took = timed(systems[system], path, missing, chunk)
                    if name != "cut" and rows != args.rows:
                        raise SystemExit(f"{system} read {rows} rows of {name}, not {args.rows}")
                    seconds[name][system].append(took)
                    read[name][system].add(rows)
    result: dict[str, object] = {
        **head,
        "baseline": revision(args.baseline),
        "rows": args.rows,
        "repeats": args.repeats,
        "chunk_rows": chunk,
    }
    for name, by_system in seconds.items():
        ratios = [new / old for new, old in zip(by_system["this"], by_system["baseline"], strict=True)]
        result[name] = {
            "seconds": {system: spread(values) for system, values in by_system.items()},
            "rows_read": {system: sorted(rows) for system, rows in read[name].items()},
            "ratio_this_to_baseline": {**spread(ratios), "per_repeat": ratios},
        }
    write_result(result, args.out / "csv_read.json")
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
