"""What benchmarks/serving.py writes: each ratio per round with its spread, the targets it is held
to, and ``serving.md``'s tables.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from serving_load import CONCURRENCY

Of = Callable[[dict[str, Any]], float]  # one round's number


def spread(values: list[float]) -> dict[str, Any]:
    return {"value": statistics.mean(values), "min": min(values), "max": max(values), "rounds": values}


def ratio(rounds: list[dict[str, Any]], num: Of, den: Of) -> dict[str, Any]:
    """The ratio over the rounds in which the compared system answered: on a loaded machine one
    can answer nothing in a short window, and that round then says nothing about the ratio."""
    answered = [num(r) / den(r) for r in rounds if den(r) > 0]
    unanswered = len(rounds) - len(answered)
    if not answered:
        return {"value": None, "min": None, "max": None, "rounds": [], "unanswered_rounds": unanswered}
    return {**spread(answered), "unanswered_rounds": unanswered}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rounds = result["rounds"]
    rows_s = lambda system, rows: lambda r: r[system][rows]["req_s"] * rows  # noqa: E731
    cpu_ms = lambda system, rows: lambda r: r[system][rows]["server_cpu_ms_per_request"]  # noqa: E731
    booster = lambda r: r["in_process"]["booster_100_rows_s"]  # noqa: E731
    # (the other system it needs, target, numerator, denominator, required at least)
    compared: list[tuple[str, str, Of, Of, float]] = [
        ("bentoml", "100-row rows/s (c32, 1 worker) / booster predict at batch 100",
         rows_s("bentoml", 100), booster, 0.25),
        ("mlflow", "100-row rows/s vs mlflow models serve",
         rows_s("bentoml", 100), rows_s("mlflow", 100), 5.0),
        ("fastapi-same", "100-row rows/s vs FastAPI + same path",
         rows_s("bentoml", 100), rows_s("fastapi-same", 100), 0.8),
        ("fastapi-same",
         "100-row requests per server CPU-second vs FastAPI + same path (less load-dependent)",
         cpu_ms("fastapi-same", 100), cpu_ms("bentoml", 100), 0.8),
        ("fastapi-same", "1-row req/s vs FastAPI + same path",
         rows_s("bentoml", 1), rows_s("fastapi-same", 1), 0.8),
        ("fastapi-pandera", "100-row rows/s vs FastAPI + pandera",
         rows_s("bentoml", 100), rows_s("fastapi-pandera", 100), 1.0),
    ]  # fmt: skip
    ran = set(result["systems"])
    found = [
        (name, ratio(rounds, num, den), need, False)
        for other, name, num, den, need in compared
        if {"bentoml", other} <= ran
    ]
    if "sustained" in result:
        held = result["sustained"]
        found.append(
            (
                f"sustained {held['seconds']:.0f} s at {held['share_of_max']:.0%} of max: errors",
                spread([float(held["non_2xx"] + held["socket_errors"])]),
                0,
                True,
            )
        )
    if "checks" in result:
        c = result["checks"]
        found += [
            ("malformed mix: server 5xx", spread([c["malformed_mix"]["server_5xx"]]), 0, True),
            ("malformed mix: RSS growth MB", spread([c["malformed_mix"]["rss_growth_mb"]]), 50, True),
            ("kill -9 (1 worker): ready again, s", spread([c["kill_1_worker"]["ready_again_s"]]), 5, True),
            (
                "kill -9 (2 workers): failed requests / in flight (16)",
                spread([c["kill_2_worker"]["failed"] / 16]),
                1,
                True,
            ),
        ]
    return [
        {
            "target": n,
            **v,
            "need": need,
            "at_most": at_most,
            "met": v["value"] is not None and (v["value"] <= need if at_most else v["value"] >= need),
        }
        for n, v, need, at_most in found
    ]


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]  # revisions.result_head's, with write_result's load_after
    lines = [
        "# Serving benchmark",
        "",
        f"{result['date']} · {machine['cpus']} CPUs · load average "
        f"{machine['load_before'][0]:.1f} before, {machine['load_after'][0]:.1f} after · "
        f"model {result['model_version']} · wrk c{CONCURRENCY}, 1 worker"
        + (" · QUICK run" if result["quick"] else ""),
        "",
        "| round | system | rows/request | req/s | rows/s | p50 ms | p99 ms | server CPU ms/request "
        "| errors | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(result["rounds"], 1):
        for system in result["systems"]:
            for rows, x in r[system].items():
                lines.append(
                    f"| {i} | {system} | {rows} | {x['req_s']:,.0f} | {x['req_s'] * int(rows):,.0f} | "
                    f"{x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['server_cpu_ms_per_request']:.2f} | "
                    f"{x['non_2xx'] + x['socket_errors']} | "
                    f"{r['loadavg_start']:.1f}-{r['loadavg_end']:.1f} |"
                )
    lines += [
        "",
        "| target | measured (mean) | spread (min-max) | required | met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for t in result["targets"]:
        measured = (
            f"{t['value']:.2f} | {t['min']:.2f}-{t['max']:.2f}" if t["value"] is not None
            else "no round answered | -"
        )  # fmt: skip
        skipped = f" ({t['unanswered_rounds']} rounds unanswered)" if t.get("unanswered_rounds") else ""
        lines.append(
            f"| {t['target']}{skipped} | {measured} | "
            f"{'≤' if t['at_most'] else '≥'} {t['need']:g} | {'yes' if t['met'] else '**no**'} |"
        )
    if "checks" in result:
        lines += ["", "```json", json.dumps(result["checks"], indent=1), "```"]
    return "\n".join(lines) + "\n"
