"""The numbers benchmarks/probes.py writes of its floods: per probe, per accept queue, per wave
of joining connections, per system over its rounds, and the line it prints per run."""

from __future__ import annotations

import json
import statistics
from typing import Any

PROBES = ("/livez", "/readyz")
PROBE_PORT = "probe port "  # the prefix of the probe port's series


def targets(url: str, probe_url: str | None) -> dict[str, str]:
    """The probes of a server: its traffic port's, and its probe port's when it has one."""
    found = {path: url + path for path in PROBES}
    if probe_url:
        found |= {PROBE_PORT + path: probe_url + path for path in PROBES}
    return found


def timeout_of(name: str, timeouts: dict[str, float]) -> float:
    return timeouts[name.removeprefix(PROBE_PORT)]


def queue_summary(samples: list[tuple[float, int | None]]) -> dict[str, Any]:
    """The accept queue during a flood: its median and max, and every sample ([seconds, length])."""
    lengths = [n for _, n in samples if n is not None]
    return {
        "median": statistics.median(lengths) if lengths else None,
        "max": max(lengths, default=None),
        "samples": [[t, n] for t, n in samples],
    }


def summary(seen: list[tuple[float, int]], timeout_s: float) -> dict[str, Any]:
    took = sorted(t for t, _ in seen)
    pct = lambda q: took[min(len(took) - 1, int(q * len(took)))]  # noqa: E731
    return {
        "probes": len(took),
        "p50_s": pct(0.5),
        "p95_s": pct(0.95),
        "max_s": took[-1],
        "timeout_s": timeout_s,
        "over_timeout": sum(t > timeout_s for t in took),
        "not_200": sum(status != 200 for _, status in seen),
        "took_s": [round(t, 4) for t, _ in seen],  # in order: pooled medians and spread across rounds
    }


def wave_summary(out: str, at_s: float) -> dict[str, Any]:
    """benchmarks/joining.py's output, with seconds since the wave began until all its
    connections were answered, the median and the 90th percentile (None: not within the run)."""
    run = json.loads(out)
    for key in ("first_answer_s", "first_200_s"):
        times: list[float | None] = sorted(run[key], key=lambda t: float("inf") if t is None else t)
        run[key.removesuffix("_s")] = {
            "all_s": times[-1],
            "p50_s": times[len(times) // 2],
            "p90_s": times[int(0.9 * (len(times) - 1))],
            "never": times.count(None),
        }
    return run | {"at_s": at_s}


def overall(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's rounds together: the median of all its probes and of each round (the spread),
    the worst probe, the share over the timeout, answers."""
    out: dict[str, Any] = {}
    for name in runs[0]["probes"]:
        probes = [run["probes"][name] for run in runs]
        out[name] = {
            "median_s": statistics.median(t for p in probes for t in p["took_s"]),
            "p50_s_by_round": [p["p50_s"] for p in probes],
            "p95_s_by_round": [p["p95_s"] for p in probes],
            "max_s": max(p["max_s"] for p in probes),
            "over_timeout": f"{sum(p['over_timeout'] for p in probes)}/{sum(p['probes'] for p in probes)}",
            "not_200": sum(p["not_200"] for p in probes),
        }
    answered = [run["predict_answers"].get("200", 0) for run in runs]
    out["predict_200_per_run"] = answered
    out["predict_429_per_run"] = [run["predict_answers"].get("429", 0) for run in runs]
    readyz = PROBE_PORT + "/readyz" if PROBE_PORT + "/readyz" in runs[0]["probes"] else "/readyz"
    out["readyz_not_200_per_run"] = [run["probes"][readyz]["not_200"] for run in runs]  # the kubelet's port
    for key in ("predict_200_per_run", "predict_429_per_run", "readyz_not_200_per_run"):
        values = out[key]
        out[key.replace("_per_run", "_median_range")] = [statistics.median(values), min(values), max(values)]
    out["accept_queue_median_max_per_run"] = [
        [run["accept_queue"]["median"], run["accept_queue"]["max"]] for run in runs
    ]
    cpu = [run["server_cpu_s"] for run in runs]
    out["server_cpu_ms_per_200"] = [1000 * c / max(n, 1) for c, n in zip(cpu, answered, strict=True)]
    out["readyz_recovered_s"] = [run["readyz_recovered_s"] for run in runs]
    out["predict_200_per_server_cpu_s"] = [n / max(c, 1e-9) for c, n in zip(cpu, answered, strict=True)]
    out["listen_dropped_per_run"] = [run["listen_dropped"] for run in runs]
    if runs[0]["wave"]:
        for key in ("first_answer", "first_200"):
            out[f"wave_{key}_all_s_per_run"] = [run["wave"][key]["all_s"] for run in runs]
            out[f"wave_{key}_p50_s_per_run"] = [run["wave"][key]["p50_s"] for run in runs]
            out[f"wave_{key}_never_per_run"] = [run["wave"][key]["never"] for run in runs]
    return out


def line(run: dict[str, Any]) -> str:
    shown = [
        f"{path} p50/p95/max {p['p50_s']:.2f}/{p['p95_s']:.2f}/{p['max_s']:.2f} s, "
        f"{p['over_timeout']}/{p['probes']} over {p['timeout_s']:g} s, {p['not_200']} not 200"
        + (f" (at {', '.join(str(n['at_s']) for n in p['not_200_at'])} s)" if p["not_200_at"] else "")
        for path, p in run["probes"].items()
    ]
    flood, queue = run["flood"], run["accept_queue"]
    return (
        f"  {'; '.join(shown)}; accept queue median {queue['median']}, max {queue['max']}; "
        f"/readyz fast again {run['readyz_recovered_s']:.2f} s after; "
        f"flood: {flood['requests'] - flood['non_2xx']} 200s of {flood['requests']} answers in wrk, "
        f"server {run['predict_answers']}, {run['server_cpu_s']:.1f} CPU-s; "
        f"load {run['loadavg_start']:.1f}-{run['loadavg_end']:.1f}; dropped {run['listen_dropped']}"
        + (
            f"; wave all answered {wave['first_answer']} s, all 200 {wave['first_200']} s"
            if (wave := run["wave"])
            else ""
        )
    )
