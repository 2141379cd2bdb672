"""The monitor's peak memory and wall time by batch size: this checkout against another revision.

    nice -n 10 uv run python benchmarks/monitor_memory.py [--rows 100000 1000000 2000000]
        [--repeats 3] [--old-ref main] [--log] [--out DIR]

Needs the pipeline's outputs in the checkout (``make run``): the model, the split tables and
metrics.json, the monitor's reference; both revisions compare with the same ones. The old
revision is checked out in a temporary git worktree and run from its ``src/`` (``PYTHONPATH``),
with params.yaml less the settings its own lacks (``revisions.params_for_old``). Each batch is a
labeled draw of the sample process (``mlapp pipeline generate --new-customers``), so drift,
prediction shift and decay are all computed. For each size, the two revisions run alternately
``--repeats`` times, each in a fresh process: wall time (start-up and imports included) and
peak RSS (the process's own ``ru_maxrss``), their spread, and how far apart the two reports'
numbers are (largest absolute difference per section: 0 when the chunked counts give the whole
batch's numbers). ``--log``: each batch written as a prediction log instead (the service's JSON
lines: id, ts, the features nested, the label beside them), which the monitor reads line by line.

Writes ``monitor_memory.json`` (``monitor_memory-log.json`` with ``--log``; default benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

# The same labeled draw of the sample process, measured by the same fresh-process worker.
from monitor_scale import batch, measured, monitor_run, spread
from params_files import as_written, settings
from revisions import REPO, params_for_old, result_head, worktree, write_result


def old_params(folder: Path, tmp: Path) -> Path:
    """params.yaml without the settings the old revision (checked out in ``folder``) does not know."""
    old = folder / "params.yaml"
    params = params_for_old(settings(REPO / "params.yaml"), as_written(old.read_text(), str(old)))
    (tmp / "old-params.yaml").write_text(yaml.safe_dump(params))
    return tmp / "old-params.yaml"


def numbers(value: Any, path: str = "") -> dict[str, float]:
    """Every number of a report, by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in numbers(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in numbers(item, f"{path}[{i}]").items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {path: float(value)}
    return {}


def differences(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Per report section, the largest absolute difference of a number, and whether the decisions agree."""
    out: dict[str, Any] = {"same_decision": old["retrain"] == new["retrain"]}
    for section in ("features", "prediction", "decay", "rules"):
        a, b = numbers(old[section]), numbers(new[section])
        out[section] = max((abs(a[k] - b[k]) for k in a.keys() & b.keys()), default=0.0)
        out[section + "_same_fields"] = a.keys() == b.keys()
    return out


def as_log(source: Path) -> Path:
    """The batch ``source`` (a CSV) as the prediction log the service writes of its rows, with the
    label beside the features (ground truth joined in); no scores: none are compared."""
    import pandas as pd  # here: the measured workers import what the monitor does, no more

    from mlapp.params import load_params

    data = load_params(REPO / "params.yaml").data
    own = {data.id_column: "id", data.time_column: "ts", data.label: data.label}
    frame = pd.read_csv(source, dtype={data.id_column: str})
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    path = source.with_suffix(".jsonl")
    with path.open("w") as out:
        for row in rows:
            record = {name: row.pop(column) for column, name in own.items()}
            out.write(json.dumps({**record, "features": row, "model_version": "benchmark"}) + "\n")
    source.unlink()
    return path


def compare(rows: int, repeats: int, old: tuple[Path, Path], tmp: Path, log: bool) -> dict[str, Any]:
    source = as_log(batch(rows, tmp)) if log else batch(rows, tmp)
    runs = []
    for _ in range(repeats):
        before = measured(["monitor", *monitor_run(source, tmp, "old", old[1])], tmp, old[0])
        after = measured(["monitor", *monitor_run(source, tmp, "new")], tmp)
        reports = [json.loads((tmp / f"{way}.json").read_text()) for way in ("old", "new")]
        runs.append({"old": before, "new": after, "differences": differences(*reports)})
    source.unlink()
    return {
        "rows": rows,
        "old_wall_s": spread([r["old"]["wall_s"] for r in runs]),
        "new_wall_s": spread([r["new"]["wall_s"] for r in runs]),
        "old_peak_rss_mb": spread([r["old"]["peak_rss_mb"] for r in runs]),
        "new_peak_rss_mb": spread([r["new"]["peak_rss_mb"] for r in runs]),
        "decision": reports[1]["status"],
        "labeled_rows": reports[1]["labeled_rows"],
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-ref", default="main")
    parser.add_argument("--log", action="store_true", help="each batch as a prediction log (JSON lines)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    from bench_http import model_missing  # here, not at the top: the measured workers skip it

    if missing := model_missing():
        print(missing, file=sys.stderr)
        sys.exit(2)
    from mlapp.params import load_params

    chunk_rows = load_params(REPO / "params.yaml").monitor.chunk_rows
    result = {
        **result_head(Path(__file__).name),
        "chunk_rows": chunk_rows,
        "format": "jsonl" if args.log else "csv",
    }
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        with worktree(args.old_ref, tmp / "old") as sha:
            result["old_ref"] = sha
            old = (tmp / "old" / "src", old_params(tmp / "old", tmp))
            result["sizes"] = [compare(rows, args.repeats, old, tmp, args.log) for rows in args.rows]
    write_result(result, args.out / f"monitor_memory{'-log' if args.log else ''}.json")
    summary = [{k: v for k, v in size.items() if k != "runs"} for size in result["sizes"]]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
