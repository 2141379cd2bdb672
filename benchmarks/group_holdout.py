"""How much train's validation score overstates the test score on panel data, with the validation
rows held out by row (a group's rows on both sides) and by group (``data.group_column``).

    nice -n 10 uv run python benchmarks/group_holdout.py [--task binary] [--rows 20000]
        [--effect 1.5] [--seeds 1 2 3 4 5] [--out benchmarks/results/group_holdout.json]

A synthetic panel of 4 rows per entity: the sample's rows (``mlapp.sample_data.generate``), every
column but four month-to-month ones copied from the entity's first row (the entity is recognisable
from its inputs, as a customer's months are), and a label from a row-level signal plus a seeded
entity effect (sd ``--effect`` on the log-odds, or in the label's units x 5 for regression). The
split stage's stratified split by group makes the test part (entities train never sees); train's
own ``holdout`` and ``fit`` with the shipped ``train:`` settings make each model. The gap is the
validation metric minus the test metric: the optimism early stopping, the threshold and `make
tune` see.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import metrics
from mlapp.model import Model
from mlapp.params import Task, load_params
from mlapp.sample_data import generate
from mlapp.stages.split import split
from mlapp.stages.train import fit, holdout
from revisions import REPO, result_head, write_result

VARY = {"logins_30d", "avg_session_minutes", "support_tickets_90d", "satisfaction_score"}  # by month
MEASURES = {"binary": ("roc_auc", "log_loss"), "regression": ("rmse", "r2")}


def panel(rows: int, effect_sd: float, seed: int, task: Task) -> pd.DataFrame:
    """``rows`` rows, 4 per entity (column ``entity``), the entity's inputs repeated, its effect added."""
    rng = np.random.default_rng(seed)
    frame = generate(rows, seed)
    entity = np.arange(len(frame)) // 4
    kept = [c for c in frame.columns if c not in VARY | {"customer_id", "event_time", "churned"}]
    frame[kept] = frame[kept].groupby(entity).transform("first")
    effect = rng.normal(0, effect_sd, entity.max() + 1)[entity]
    tickets, tenure = frame.support_tickets_90d, frame.tenure_months
    signal = 0.4 * (tickets - tickets.mean()) - 0.02 * (tenure - 30)
    if task == "binary":
        chance = 1 / (1 + np.exp(-(signal + effect - 1.0)))
        frame["churned"] = (rng.random(len(frame)) < chance).astype(int)
    else:
        frame["churned"] = 50 + 5 * signal + 5 * effect + rng.normal(0, 3, len(frame))
    return frame.assign(entity=[f"E{n}" for n in entity])


def measured(frame: pd.DataFrame, task: Task) -> dict[str, Any]:
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"group_column": "entity"})
    train_part, test_part = split(frame, data, params.split.model_copy(update={"method": "stratified"}), task)
    out: dict[str, Any] = {}
    for name, group in (("rows", None), ("group", "entity")):
        rows = holdout(train_part, "churned", params.train, task, examples=5, group=group)
        booster, spec = fit(rows, params.train)
        model = Model(booster, spec, "")
        scored = {}
        for part, table in (("valid", rows.valid), ("test", test_part)):
            y = spec.encode(table["churned"], examples=5)
            scored[part] = metrics.task_metrics(task, y, model.scores(table), spec.threshold, spec.classes)
        out[name] = {
            "entities_on_both_sides": len(set(rows.fit.entity) & set(rows.valid.entity)),
            "trees": spec.best_iteration + 1,
            "threshold": spec.threshold,
            **{
                m: {"valid": round(scored["valid"][m], 4), "test": round(scored["test"][m], 4)}
                for m in MEASURES[task]
            },
        }
    return out


def summary(fits: list[dict[str, Any]], task: Task) -> dict[str, dict[str, float]]:
    """Per hold-out: the mean over seeds of each metric's gap (validation - test) and test value."""
    out = {}
    for name in ("rows", "group"):
        mean: dict[str, float] = {"trees": float(np.mean([f[name]["trees"] for f in fits]))}
        for m in MEASURES[task]:
            mean[f"{m}_gap"] = round(
                float(np.mean([f[name][m]["valid"] - f[name][m]["test"] for f in fits])), 4
            )
            mean[f"{m}_test"] = round(float(np.mean([f[name][m]["test"] for f in fits])), 4)
        out[name] = mean
    return out


def markdown(result: dict[str, Any]) -> str:
    names = list(result["summary"]["rows"])
    lines = ["| validation rows | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [
        f"| by {k} | " + " | ".join(str(v[n]) for n in names) + " |" for k, v in result["summary"].items()
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(MEASURES), default="binary")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--effect", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "group_holdout.json")
    args = parser.parse_args()
    head = result_head("group_holdout.py")  # before the fits: its date and load_before are the start's
    fits = []
    for seed in args.seeds:
        fits.append({"seed": seed, **measured(panel(args.rows, args.effect, seed, args.task), args.task)})
        print(fits[-1], flush=True)
    result = {
        **head,
        "task": args.task,
        "rows": args.rows,
        "rows_per_entity": 4,
        "effect_sd": args.effect,
        "fits": fits,
        "summary": summary(fits, args.task),
    }
    write_result(result, args.out, markdown)


if __name__ == "__main__":
    main()
