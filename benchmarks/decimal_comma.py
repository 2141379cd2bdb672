"""The validate stage on a decimal-point CSV vs its decimal-comma copy (data.decimal ',').

    uv run python benchmarks/decimal_comma.py [--rows 200000] [--repeats 5] [--out .bench]

Writes the sample table twice as the sample writer writes data.raw (``,``/``.`` and the
European ``;``/``,``), then runs ``validate.run`` on each in turn, alternating, ``--repeats``
times (odd repeats the decimal-point copy first). Writes ``decimal_comma.json`` to ``--out``: per
notation the median, min and max seconds, the ratio of the medians (what decimal commas cost:
numbers are parsed with them), and the ratio per repeat with its median and range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from mlapp.params import load_params
from mlapp.sample_data import generate, write
from mlapp.stages import validate
from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
NOTATIONS = {"point": (",", "."), "comma": (";", ",")}  # data.csv_separator, data.decimal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args(argv)
    params = load_params(REPO / "params.yaml")
    seconds: dict[str, list[float]] = {name: [] for name in NOTATIONS}
    orders: list[list[str]] = []
    head = result_head(Path(__file__).name)
    with tempfile.TemporaryDirectory(prefix="bench-decimal-") as tmp:
        table = generate(args.rows, 7)
        for name, (sep, decimal) in NOTATIONS.items():
            write(table, Path(tmp) / f"{name}.csv", sep, decimal)
        for repeat in range(args.repeats):
            order = list(NOTATIONS) if repeat % 2 == 0 else list(NOTATIONS)[::-1]
            orders.append(order)
            for name in order:  # alternating, the order too: drift and warm caches hit both alike
                sep, decimal = NOTATIONS[name]
                data = params.data.model_copy(update={"csv_separator": sep, "decimal": decimal})
                run_params = params.model_copy(update={"data": data})
                start = time.perf_counter()
                code = validate.run(run_params, source=Path(tmp) / f"{name}.csv",
                                    output=Path(tmp) / "v.parquet", report=Path(tmp) / "v.json")  # fmt: skip
                seconds[name].append(time.perf_counter() - start)
                if code != 0:
                    raise SystemExit(f"validate failed on the {name} copy: {Path(tmp) / 'v.json'}")
    result: dict[str, object] = {
        **head,
        "rows": args.rows,
        "repeats": args.repeats,
    }
    for name, times in seconds.items():
        result[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}
    result["comma_over_point"] = statistics.median(seconds["comma"]) / statistics.median(seconds["point"])
    ratios = [comma / point for comma, point in zip(seconds["comma"], seconds["point"], strict=True)]
    result["comma_over_point_per_repeat"] = {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "ratios": ratios,
        "orders": orders,
    }
    write_result(result, args.out / "decimal_comma.json")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
