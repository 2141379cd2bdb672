"""The monitor's rules on the sample project's own batches (docs/monitoring.md's table): a
``make recent`` batch, and copies of it with one feature moved.

    nice -n 10 uv run python benchmarks/drift_examples.py [--out benchmarks/results]

Needs the trained project (``make run``, or ``uv run dvc repro``): the monitor reads its model and
its split's training rows as the reference. Per batch (``make recent``'s ``mlapp pipeline generate
--rows 2000 --seed 7 --new-customers``; ``monthly_charges`` + 40; ``avg_session_minutes`` x 2, a
unit change; ``total_charges`` x 2), ``mlapp monitor run`` twice: with params.yaml's rules, and
with the rules before ``severe_psi`` and ``drifted_importance`` (both off: the share of drifted
features and the prediction shift alone). Writes ``drift_examples.json`` to ``--out``: each
feature's gain share, and per batch the moved feature's PSI and whether it drifted, the largest
feature PSI, the prediction PSI and the rules fired under each set of rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench_http import REPO, model_missing
from mlapp import proc
from params_files import settings
from revisions import result_head, write_result

MLAPP = [sys.executable, "-m", "mlapp"]
RECENT = ["pipeline", "generate", "--rows", "2000", "--seed", "7", "--new-customers"]  # make recent
MOVES: dict[str, tuple[str | None, Callable[[pd.Series], pd.Series]]] = {
    "make recent": (None, lambda column: column),
    "monthly_charges + 40": ("monthly_charges", lambda column: column + 40),
    "avg_session_minutes x 2 (a unit change)": ("avg_session_minutes", lambda column: column * 2),
    "total_charges x 2": ("total_charges", lambda column: column * 2),
}


def monitor(batch: Path, params: Path, report: Path) -> dict[str, Any]:
    """``mlapp monitor run`` on ``batch`` under ``params``: its JSON report."""
    argv = [*MLAPP, "--params", str(params), "monitor", "run", "--source", str(batch), "--exit-zero"]
    proc.run([*argv, "--json", str(report), "--markdown", str(report.with_suffix(".md"))], cwd=REPO)
    found: dict[str, Any] = json.loads(report.read_text())
    return found


def summary(report: dict[str, Any], moved: str | None) -> dict[str, Any]:
    features = {f["feature"]: f for f in report["features"]}
    out: dict[str, Any] = {
        "largest_feature_psi": max(f["psi"] for f in features.values()),
        "prediction_psi": report["prediction"]["psi"],
        "rules_fired": [r["rule"] for r in report["rules"] if r["triggered"]],
        "drifted_features": report["drifted_features"],
        "retrain": report["retrain"],
    }
    if moved:
        out |= {"moved_psi": features[moved]["psi"], "moved_drifted": features[moved]["drifted"]}
    return out


def old_rules(work: Path) -> Path:
    """This checkout's params.yaml with ``severe_psi`` and ``drifted_importance`` off."""
    params = settings(REPO / "params.yaml")
    params["monitor"]["severe_psi"] = None
    params["monitor"]["drifted_importance"] = None
    (path := work / "params-old-rules.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results", help="[benchmarks/results]"
    )
    args = parser.parse_args(argv)
    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2
    head = result_head(Path(__file__).name)
    batches: dict[str, Any] = {}
    importance: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        work = Path(tmp)
        rules = {"now": REPO / "params.yaml", "before": old_rules(work)}
        proc.run([*MLAPP, *RECENT, "--out", str(work / "recent.csv")], cwd=REPO)
        recent = pd.read_csv(work / "recent.csv", dtype=str, keep_default_na=False)
        for i, (name, (moved, change)) in enumerate(MOVES.items()):
            batch = recent.copy()
            if moved:  # as text: every other column stays as generated, byte for byte
                values = pd.to_numeric(batch[moved], errors="coerce")  # a blank stays blank
                batch[moved] = batch[moved].where(values.isna(), change(values).round(2).astype(str))
            batch.to_csv(path := work / f"batch-{i}.csv", index=False)
            reports = {key: monitor(path, params, work / f"{key}-{i}.json") for key, params in rules.items()}
            importance = reports["now"]["importance"]
            batches[name] = {key: summary(report, moved) for key, report in reports.items()}
            print(name, json.dumps(batches[name]), flush=True)
    write_result({**head, "importance": importance, "batches": batches}, args.out / "drift_examples.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
