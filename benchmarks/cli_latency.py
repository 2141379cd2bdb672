"""CLI latency: wall and CPU time of cheap `mlapp` commands, this checkout beside a baseline ref.

    nice -n 10 uv run python benchmarks/cli_latency.py --baseline a33737e [--repeats 5]
        [--only help 'report gate' ...] [--add NAME 'ARGV'] [--out .bench/cli_latency.json]

Every command runs in a fresh process, offline, nothing trained, from a temporary git repository
(``delivery status`` reads that one): ``--help``; ``report gate`` on a report.json whose metrics
and gate come from the report's own comparison and gate code (writing one with ``report run``
needs two trained models); ``monitor metrics`` on the report ``monitor run`` writes for a batch it
refuses (the one report it writes without a trained model; each system reads the one its own
``monitor run`` wrote: the report's schema version changes); ``pipeline generate`` and
``pipeline validate`` on 1,000 sample rows; ``delivery status``; and the imports of the heavy
modules the import trims were about. ``--add`` times another command (``mlapp`` and ``python`` are expanded
as below; ``{tmp}`` is the input folder).

``--baseline REF`` is checked out with ``git worktree add`` (removed after) and run with this
environment's interpreter and packages, ``PYTHONPATH=<worktree>/src`` (this checkout gets its own
``src``): no network, but a fair baseline only while its dependencies match uv.lock as installed
(``git diff REF -- uv.lock pyproject.toml``). Each system reads its own params.yaml. Per repeat
the systems alternate (A B, then B A) so drifting load hits both; an untimed warm-up round first
writes the worktree's bytecode. Per command and system: wall and CPU seconds (the child's user +
sys, ``RUSAGE_CHILDREN``), median, min and max; the ratio of the medians (baseline / current) and
the ratio per repeat with its median, min and max. A command that exits otherwise than 0 is
recorded as failed (exit code, stderr tail) and the run goes on. Writes JSON and the table as .md.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlapp import proc, sample_data
from mlapp.files import write_json
from mlapp.params import Params, load_params
from mlapp.report import compare, schema
from mlapp.schema import FEATURES
from revisions import REPO, result_head, worktree, write_result

ROWS = 1_000
STDERR_LINES = 15
# "mlapp": the console script with the system's --params; "python": this interpreter. {system}
# keeps each system's outputs apart.
COMMANDS = {
    "help": "mlapp --help",
    "report gate": "mlapp report gate {tmp}/report.json",
    "monitor metrics": "mlapp monitor metrics --report {tmp}/{system}-monitor.json --out -",
    "delivery status": "mlapp delivery status",
    "pipeline generate": "mlapp pipeline generate --rows 1000 --out {tmp}/{system}-generated.csv",
    "pipeline validate": "mlapp pipeline validate --input {tmp}/batch.csv "
    "--output {tmp}/{system}-valid.parquet --report {tmp}/{system}-validation.json",
    "import serving.local": "python -c 'import mlapp.serving.local'",
    "import monitor.refresh": "python -c 'import mlapp.monitor.refresh'",
    "import monitor.retrain": "python -c 'import mlapp.monitor.retrain'",
}


def report_json(params: Params, path: Path) -> None:
    """report.json as ``report run`` writes it: two score vectors on the same rows compared and
    gated by mlapp.report.compare, validated by its schema; the Markdown-only sections empty."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, ROWS)
    base, pr = (np.clip(0.5 * y + 0.5 * rng.random(ROWS), 0, 1) for _ in range(2))
    rep = params.report
    deltas = compare.compare(
        y, (base, 0.5), (pr, 0.5), rep.bootstrap_resamples, rep.bootstrap_seed, rep.confidence
    )
    primary = next(d for d in deltas if d.name == params.gate.primary_metric)
    gate = compare.gate(params.gate, primary, rep.confidence, "params.yaml")
    report: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "verdict": primary.change,
        "primary_metric": primary.name,
        "gate": gate.as_dict(),
        "metrics": [d.as_dict() for d in deltas],
        "bootstrap": {
            "resamples": rep.bootstrap_resamples,
            "seed": rep.bootstrap_seed,
            "confidence": rep.confidence,
            "rows": ROWS,
            "paired_by": None,
            "positives": int(y.sum()),
            "identical_predictions": False,
        },
        "warnings": [],
        "calibration_bins": params.evaluate.calibration_bins,
    }
    report |= {key: {} for key in ("changes", "curves", "models", "lineage", "drift_rules", "run")}
    write_json(schema.dump(schema.parse(report)), path)


def prepare(tmp: Path) -> None:
    """The inputs, written by this checkout's code: report.json, a sample batch and a copy lacking
    a feature column (refused.csv, see monitor_reports); then ``tmp`` becomes a git repository."""
    params = load_params(REPO / "params.yaml")
    report_json(params, tmp / "report.json")
    frame, data = sample_data.generate(ROWS, params.sample_data.seed), params.data
    sample_data.write(frame, tmp / "batch.csv", data.csv_separator, data.decimal)
    refused = frame.drop(columns=next(iter(FEATURES)))
    sample_data.write(refused, tmp / "refused.csv", data.csv_separator, data.decimal)
    proc.run(["git", "init", "-q", "."], cwd=tmp)
    who = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]
    proc.run(["git", *who, "commit", "-q", "--allow-empty", "-m", "empty"], cwd=tmp)


def monitor_reports(trees: dict[str, Path], tmp: Path) -> None:
    """``{system}-monitor.json``: each system's ``monitor run`` on refused.csv, by its own code: a
    baseline's ``monitor metrics`` refuses a report of another schema version."""
    for system, tree in trees.items():
        run = "mlapp monitor run --source {tmp}/refused.csv --model-dir {tmp}/no-model"
        outputs = " --json {tmp}/{system}-monitor.json --markdown {tmp}/{system}-monitor.md"
        cmd = argv(run + outputs, tree, system, tmp)
        done = proc.run(cmd, cwd=tmp, env={"PYTHONPATH": str(tree / "src")}, check=False)
        if not (tmp / f"{system}-monitor.json").is_file():  # exit 2 is expected: the batch is refused
            raise SystemExit(f"error: {system}'s `monitor run` wrote no report:\n{done.stderr}")


def argv(command: str, tree: Path, system: str, tmp: Path) -> list[str]:
    words = [word.format(tmp=tmp, system=system) for word in shlex.split(command)]
    head = {"mlapp": [*proc.tool("mlapp"), "--params", str(tree / "params.yaml")], "python": [sys.executable]}
    return [*head.get(words[0], words[:1]), *words[1:]]


def timed(cmd: list[str], tree: Path, tmp: Path, timeout: float) -> dict[str, Any]:
    """One run: wall seconds, the child's CPU seconds, its exit code (and stderr's tail if not 0)."""
    env = {"PYTHONPATH": str(tree / "src"), "PYTHONDONTWRITEBYTECODE": None}
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        done = proc.run(cmd, cwd=tmp, env=env, check=False, timeout=timeout)
        code, stderr = done.returncode, done.stderr
    except proc.CommandError as exc:  # not found or timed out: recorded like any failure
        code, stderr = exc.returncode, exc.stderr
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    result: dict[str, Any] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "exit": code}
    if code != 0:
        result["stderr_tail"] = stderr.strip().splitlines()[-STDERR_LINES:]
    return result


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per system the spread of its successful runs; baseline / current per measure."""
    out: dict[str, Any] = {"status": "ok", "systems": {}}
    for system, rows in runs.items():
        ok = [r for r in rows if r["exit"] == 0]
        failed = [r for r in rows if r["exit"] != 0]
        stats = {m: spread([r[m] for r in ok]) for m in ("wall_s", "cpu_s")}
        out["systems"][system] = {**stats, "failed": len(failed), "runs": rows}
        if failed:
            out["status"] = "failed"
    if set(runs) != {"current", "baseline"} or out["status"] == "failed":
        return out
    for measure in ("wall_s", "cpu_s"):
        new, old = (out["systems"][s][measure]["median"] for s in ("current", "baseline"))
        pairs = zip(runs["baseline"], runs["current"], strict=True)
        per_repeat = [round(b[measure] / c[measure], 3) for b, c in pairs if c[measure] > 0]
        ratio = {"of_medians": round(old / new, 3) if new else None, "per_repeat": spread(per_repeat)}
        out[f"baseline_over_current_{measure[:-2]}"] = ratio
    return out


def cell(stats: dict[str, float] | None, digits: int = 2) -> str:
    if stats is None:
        return "failed"
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"


def ratio_cell(ratio: dict[str, Any] | None) -> str:
    if ratio is None or ratio["of_medians"] is None:
        return "-"
    low, high = ratio["per_repeat"]["min"], ratio["per_repeat"]["max"]
    return f"{ratio['of_medians']:.2f}x ({low:.2f}-{high:.2f})"


def markdown(result: dict[str, Any]) -> str:
    """Seconds as median (min-max); ratios as baseline / current of the medians (per-repeat range)."""
    systems = list(result["systems"])
    heads = [f"{s} {m}" for m in ("wall s", "CPU s") for s in systems]
    ratios = ["wall ratio", "CPU ratio"] if len(systems) == 2 else []
    lines = ["| command | " + " | ".join(heads + ratios) + " |", "|---" + "|---:" * len(heads + ratios) + "|"]
    for name, row in result["commands"].items():
        cells = [cell(row["systems"][s][m]) for m in ("wall_s", "cpu_s") for s in systems]
        cells += [ratio_cell(row.get(f"baseline_over_current_{m}")) for m in ("wall", "cpu")][: len(ratios)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    machine = result["machine"]
    load = {when: ", ".join(f"{x:.1f}" for x in machine[f"load_{when}"]) for when in ("before", "after")}
    lines.append(f"\nload average (1, 5, 15 min) before {load['before']}; after {load['after']}")
    return "\n".join(lines)


def measure(commands: dict[str, str], trees: dict[str, Path], args: argparse.Namespace, tmp: Path) -> Any:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {s: [] for s in trees} for name in commands}
    orders = []
    for repeat in range(-args.warmup, args.repeats):
        order = list(trees) if repeat % 2 == 0 else list(trees)[::-1]
        orders += [order] if repeat >= 0 else []
        for name, command in commands.items():
            for system in order:  # alternating, so drifting load hits both alike
                run = timed(argv(command, trees[system], system, tmp), trees[system], tmp, args.timeout)
                if repeat >= 0:
                    runs[name][system].append(run)
        print(f"repeat {repeat + 1}/{args.repeats} done" if repeat >= 0 else "warm-up done", file=sys.stderr)
    return orders, {name: {"command": commands[name]} | summary(rows) for name, rows in runs.items()}


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline", help="git ref to compare with (default: this checkout only)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--only", nargs="*", choices=sorted(COMMANDS), help="these only (none: --add's only)")
    parser.add_argument("--add", nargs=2, action="append", default=[], metavar=("NAME", "ARGV"),
                        help="another command, as those above: {tmp} and {system} are filled in")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per command run")
    parser.add_argument("--out", type=Path, default=Path(".bench/cli_latency.json"))
    args = parser.parse_args(argv_)
    chosen = COMMANDS if args.only is None else args.only
    commands = {name: COMMANDS[name] for name in chosen} | dict(args.add)
    result = result_head(Path(__file__).name)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        tmp = Path(folder)
        prepare(tmp)
        trees = {"current": REPO}
        baseline = worktree(args.baseline, tmp / "baseline") if args.baseline else contextlib.nullcontext()
        with baseline as sha:
            if sha:
                result["baseline"] = {"ref": args.baseline, "commit": sha}
                trees["baseline"] = tmp / "baseline"
            if "monitor metrics" in commands:
                monitor_reports(trees, tmp)
            result["orders"], result["commands"] = measure(commands, trees, args, tmp)
    result |= {"repeats": args.repeats, "warmup": args.warmup, "systems": list(trees)}
    write_result(result, args.out, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
