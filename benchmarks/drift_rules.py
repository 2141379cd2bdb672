"""The retraining rule, old vs new, on synthetic wide tables: false alarms and detection.

    nice -n 10 uv run python benchmarks/drift_rules.py [--widths 20 40 100] [--null-trials 300]
        [--shift-trials 60] [--out benchmarks/results/drift_rules.json]

For each width, a mixed table (numeric: normal, log-normal, counts; every fifth feature a
4-level category) whose binary label depends on 5 numeric features and one category; the rest
is noise. A real XGBoost model (the shipped ``train.xgboost`` settings) is trained on a
reference sample, and each batch goes through the monitor's own code: ``drift.one_feature``
per feature, ``drift.prediction_shift`` on the model's scores, ``decision.decide``. Rules:

- ``old``: the share-only rule (``severe_psi`` and ``drifted_importance`` off), plus the
  prediction shift, as ``mlapp monitor run`` decided before;
- ``new``: params.yaml's ``monitor:`` as shipped;
- ``new, <knob> <value>``: ``new`` with one of its two knobs moved (the defaults' neighbours).

Both judge the **same** batches (paired), so the difference is the rule, not the draw.
(a) no shift: fresh draws of the reference's process, at ``min_rows`` and at 1,000 rows ->
share of batches that call for retraining (false alarms), per rule that fired.
(b) ``k`` numeric features shifted by ``size`` reference standard deviations, chosen as the
model's most important numerics or, like for like, the least important feature of each one's
kind (same distribution, same shift) -> share of batches detected, and the shifted features'
median PSI.
The JSON holds every cell, old and new side by side, each rate with its 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlapp.model import Model, ModelSpec
from mlapp.monitor import decision, drift
from mlapp.params import MonitorParams, load_params
from revisions import result_head, write_result

REPO = Path(__file__).resolve().parents[1]
LEVELS = ["a", "b", "c", "d"]
SIGNAL_WEIGHTS = [1.2, 0.9, 0.6, 0.4, 0.25]  # the label's numeric inputs, strongest first
REFERENCE_ROWS, TEST_ROWS = 5000, 2000


def _kind(i: int) -> str:
    return "category" if i % 5 == 4 else ("normal", "lognormal", "count")[i % 3]


def draw(width: int, rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """``rows`` rows of the fixed process (features x00..) and their 0/1 labels."""
    columns: dict[str, Any] = {}
    for i in range(width):
        kind = _kind(i)
        if kind == "category":
            columns[f"x{i:02d}"] = rng.choice(LEVELS, rows, p=[0.4, 0.3, 0.2, 0.1])
        elif kind == "normal":
            columns[f"x{i:02d}"] = rng.normal(50, 10, rows)
        elif kind == "lognormal":
            columns[f"x{i:02d}"] = rng.lognormal(3, 0.5, rows)
        else:
            columns[f"x{i:02d}"] = rng.poisson(4, rows).astype(np.float64)
    frame = pd.DataFrame(columns)
    numeric = [c for i, c in enumerate(frame.columns) if _kind(i) != "category"]
    signal = zip(SIGNAL_WEIGHTS, numeric[: len(SIGNAL_WEIGHTS)], strict=True)
    weighted = sum(w * (frame[c] - frame[c].mean()) / frame[c].std() for w, c in signal)
    logit = weighted + np.where(frame["x04"] == "d", 1.0, 0.0) - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame, labels


def train(width: int, rng: np.random.Generator) -> tuple[Model, pd.DataFrame, np.ndarray]:
    """The model, its training reference and its scores on a test draw (the prediction reference)."""
    reference, labels = draw(width, REFERENCE_ROWS, rng)
    categories = {c: LEVELS for i, c in enumerate(reference.columns) if _kind(i) == "category"}
    spec = ModelSpec(list(reference.columns), categories, "y", 0.5, 0, "binary", ["0", "1"])
    knobs = load_params(REPO / "params.yaml").train.xgboost
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": knobs.max_depth, "eta": knobs.learning_rate,
         "tree_method": "hist", "seed": 0, "nthread": 1},
        xgb.DMatrix(spec.to_matrix(reference), labels, enable_categorical=True),
        num_boost_round=200,
    )  # fmt: skip
    model = Model(booster, spec, "synthetic")
    test, _ = draw(width, TEST_ROWS, rng)
    return model, reference, model.scores(test)


def judge(model: Model, reference: pd.DataFrame, ref_scores: np.ndarray, batch: pd.DataFrame,
          weights: dict[str, float] | None, rules: dict[str, MonitorParams]) -> dict[str, Any]:  # fmt: skip
    """Each rule set's triggered rules for one batch (empty: no action), and every feature's PSI."""
    any_rules = next(iter(rules.values()))  # drift statistics do not depend on the decision knobs
    levels: dict[str, list[object] | None] = {
        name: [*LEVELS] if name in model.spec.categories else None for name in reference.columns
    }
    features = [
        drift.one_feature(name, levels[name], reference[name], batch[name], any_rules)
        for name in reference.columns
    ]
    prediction = drift.prediction_shift(ref_scores, model.scores(batch), model.spec, any_rules)
    fired: dict[str, list[float] | list[str]] = {"psi": [f.psi for f in features]}
    for label, monitor in rules.items():
        made = decision.decide(features, weights, prediction, [], monitor)
        fired[label] = [rule.rule for rule in made.rules if rule.triggered]
    return fired


def wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    """95% interval of a rate from ``n`` batches: the spread a reader needs to compare two rates."""
    p, scale = hits / n, z * z / n
    centre, half = (p + scale / 2) / (1 + scale), z * np.sqrt(p * (1 - p) / n + scale / (4 * n)) / (1 + scale)
    return [round(float(max(0.0, centre - half)), 4), round(float(min(1.0, centre + half)), 4)]


def _tally(outcomes: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    cell: dict[str, Any] = {"batches": len(outcomes)}
    for label in labels:
        hits = [o[label] for o in outcomes]
        by_rule = {rule: sum(rule in h for h in hits) for rule in decision.RULES}
        retrained = sum(bool(h) for h in hits)
        cell[label] = {
            "retrain_rate": round(retrained / len(hits), 4),
            "interval_95": wilson(retrained, len(hits)),
            "fired_by_rule": {rule: n for rule, n in by_rule.items() if n},
        }
    return cell


def _shifted(batch: pd.DataFrame, names: list[str], size: float, sd: pd.Series) -> pd.DataFrame:
    out = batch.copy()
    for name in names:
        out[name] = out[name] + size * sd[name]
    return out


def one_width(width: int, args: argparse.Namespace, rules: dict[str, MonitorParams]) -> dict[str, Any]:
    rng = np.random.default_rng(1000 + width)
    model, reference, ref_scores = train(width, rng)
    columns = list(reference.columns)
    weights = decision.importance(model.booster, columns)
    assert weights is not None
    kinds = {c: _kind(i) for i, c in enumerate(columns)}
    numeric = [c for c in columns if kinds[c] != "category"]
    ranked = sorted(numeric, key=lambda c: -weights[c])
    important = ranked[:3]
    # Like for like: each important feature's twin is the least important feature of its kind,
    # so both groups get the same distributions and the same shift; only importance differs.
    unimportant = [
        min((c for c in numeric if kinds[c] == kinds[i]), key=lambda c: weights[c]) for i in important
    ]
    sd = reference[numeric].std()
    labels = list(rules)
    null = {}
    for rows in (rules["new"].min_rows, 1000):
        outcomes = [judge(model, reference, ref_scores, draw(width, rows, rng)[0], weights, rules)
                    for _ in range(args.null_trials)]  # fmt: skip
        null[str(rows)] = _tally(outcomes, labels)
    shifts = []
    for group in ("important", "unimportant"):
        for k in (1, 3):
            names = (important if group == "important" else unimportant)[:k]
            for size in (0.5, 1.0):
                trials = range(args.shift_trials)
                batches = (_shifted(draw(width, 1000, rng)[0], names, size, sd) for _ in trials)
                outcomes = [judge(model, reference, ref_scores, b, weights, rules) for b in batches]
                cell = _tally(outcomes, labels)
                where = [columns.index(n) for n in names]
                psi = [float(np.median([o["psi"][i] for o in outcomes])) for i in where]
                cell["median_psi"] = [round(v, 3) for v in psi]
                cell.update(group=group, k=k, shift_sd=size, rows=1000, features=names,
                            gain_share=round(sum(weights[n] for n in names), 4))  # fmt: skip
                shifts.append(cell)
    top = sorted(weights.items(), key=lambda kv: -kv[1])[:6]
    return {"width": width, "gain_share_top6": dict(top), "no_shift": null, "shifted": shifts}


def _rates(cell: dict[str, Any]) -> dict[str, Any]:
    """old and new side by side; the one-knob variants of new beside them."""
    others = {label: cell[label]["retrain_rate"] for label in cell if label.startswith("new, ")}
    return {"old": cell["old"]["retrain_rate"], "new": cell["new"]["retrain_rate"], "variants": others}


def _summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per width and case: old vs new rate side by side."""
    rows = []
    for r in results:
        for size, cell in r["no_shift"].items():
            case = f"no shift, {size} rows (false alarms)"
            rows.append({"width": r["width"], "case": case, **_rates(cell)})
        for cell in r["shifted"]:
            what = f"{cell['k']} {cell['group']} shifted {cell['shift_sd']} sd"
            case = f"{what} (gain {cell['gain_share']:.1%}, PSI {cell['median_psi']})"
            rows.append({"width": r["width"], "case": case, **_rates(cell)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--widths", type=int, nargs="+", default=[20, 40, 100])
    parser.add_argument("--null-trials", type=int, default=300)
    parser.add_argument("--shift-trials", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "drift_rules.json")
    args = parser.parse_args()
    head = result_head(Path(__file__).name)
    shipped = load_params(REPO / "params.yaml").monitor
    old = shipped.model_copy(update={"severe_psi": None, "drifted_importance": None})
    rules = {"old": old, "new": shipped}
    # The defaults' neighbours, one knob at a time, judged on the same batches: why 0.5 and 0.2.
    for knob, values in (("severe_psi", (0.25, 1.0)), ("drifted_importance", (0.1, 0.3))):
        for value in values:
            rules[f"new, {knob} {value}"] = shipped.model_copy(update={knob: value})
    knobs = {"psi", "ks_pvalue", "ks_statistic", "severe_psi", "drifted_importance", "drifted_share",
             "prediction_psi", "bins", "min_rows"}  # fmt: skip
    started = time.perf_counter()
    results = [one_width(width, args, rules) for width in args.widths]
    out: dict[str, Any] = {
        **head,
        "seconds": round(time.perf_counter() - started, 1),
        "rules": {label: m.model_dump(mode="json", include=knobs) for label, m in rules.items()},
        "reference_rows": REFERENCE_ROWS,
        "test_rows": TEST_ROWS,
        "summary": _summary(results),
        "widths": results,
    }
    write_result(out, args.out)
    for row in out["summary"]:
        print(f"{row['width']:>4}  {row['case']:<80} old {row['old']:>6.1%}  new {row['new']:>6.1%}")


if __name__ == "__main__":
    main()
