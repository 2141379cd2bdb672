"""Serving image benchmark: size, build time, cold start to ready, smoke result, as JSON.

Builds the image from the current ``models/`` (``mlapp.image``: the lean two-stage
Dockerfile) with the engine ``make image`` uses. With ``--compare``, BentoML's generated
Dockerfile from the same exported bento is built too, on the same base, the two systems
alternating round by round (A B, B A, ...) so drifting machine load hits both alike.

Per system and round: a cold build (``--no-cache``: every layer, downloads included), a
warm rebuild (layer cache, nothing changed), the image size, ``--starts`` cold starts
(container start to ``/readyz`` 200) and one smoke test; the 1-minute load average before and
after (``load_1min``: this machine may be shared). Not run by tests.

    uv run python benchmarks/image.py --out .bench/image.json --rounds 2 --compare
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_http import engine_or_exit, model_missing
from mlapp import proc
from mlapp.image import build, context
from mlapp.image.engine import Engine
from mlapp.params import load_params
from mlapp.serving import smoke
from mlapp.serving.local import free_port
from revisions import result_head, write_result

# BentoML's Dockerfile expects `pip` on the base, installs with pip as root into the system
# (refused by Debian's python without the override) and downloads over HTTPS with the system
# trust store. On the stand-in base (no registry here) this small layer provides that; with
# docker, BentoML's own `FROM python:3.11-slim` is pulled and this is not used.
BENTOML_BASE = """\
FROM {base}
COPY ca.crt /usr/local/share/ca-certificates/build-machine.crt
RUN apt-get update -q && apt-get install -y -q --no-install-recommends python3-pip \\
    && update-ca-certificates && rm -rf /var/lib/apt/lists/*
ENV PIP_BREAK_SYSTEM_PACKAGES=1 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
"""


def timed_build(argv: list[str | Path]) -> float:
    started = time.perf_counter()
    proc.run(argv, env={"DOCKER_BUILDKIT": "1"})
    return time.perf_counter() - started


def bentoml_base(engine: Engine, standin: str, workdir: Path) -> str:
    tag = "localhost/mlapp-bench-bentoml-base:latest"
    if not engine.image_exists(tag):
        folder = workdir / "bentoml-base"
        folder.mkdir()
        (folder / "Dockerfile").write_text(BENTOML_BASE.format(base=standin))
        bundle = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
        (folder / "ca.crt").write_text(bundle.read_text())
        timed_build(engine.build_argv(folder, tag, {}, {}))
    return tag


def system_argv(
    name: str,
    engine: Engine,
    ctx: context.Context,
    tag: str,
    base: str,
    bench_base: str | None,
    secrets: dict[str, Path],
) -> list[str | Path]:
    if name == "lean":
        return engine.build_argv(ctx.path, tag, ctx.build_args(base), secrets)
    argv = engine.build_argv(ctx.path, tag, {}, {})
    argv[argv.index(ctx.path / "Dockerfile")] = ctx.path / "env/docker/Dockerfile"
    if bench_base:  # podman: replace BentoML's unpullable `FROM python:3.11-slim`
        argv[-1:-1] = ["--from", bench_base]
    return argv


def cold_starts(engine: Engine, tag: str, params: Any, starts: int, expect: str) -> dict[str, Any]:
    ready: list[float] = []
    smoke_result = "not run"
    for i in range(starts):
        name = f"mlapp-bench-{i}-{int(time.time())}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = build.CONTAINER_ENV
        engine.run_detached(tag, name, ((port, build.CONTAINER_PORT),), env, build.TMPFS)
        try:
            ready.append(build.wait_ready(engine, name, url, params.image.ready_timeout_s))
            if i == 0:
                try:
                    smoke.run(url, params.train.model_dir, expect, timeout_s=30.0, echo=lambda _: None)
                    smoke_result = "passed"
                except smoke.SmokeFailure as exc:
                    smoke_result = f"failed: {exc}"
        finally:
            engine.remove(name)
    return {"ready_s": [round(s, 2) for s in ready], "smoke": smoke_result}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".bench/image.json"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--starts", type=int, default=3, help="cold starts per build")
    parser.add_argument("--compare", action="store_true", help="also BentoML's generated Dockerfile")
    parser.add_argument("--engine", default="auto", choices=["auto", "docker", "podman"])
    args = parser.parse_args()
    if missing := model_missing():
        print(missing, file=sys.stderr)
        sys.exit(2)

    head = result_head(Path(__file__).name)
    params = load_params()
    engine = engine_or_exit(args.engine)
    ctx = context.prepare(params)
    base, base_s = build.choose_base(engine, params, print)
    systems = ["lean", "bentoml"] if args.compare else ["lean"]
    results: dict[str, dict[str, list[Any]]] = {s: {} for s in systems}
    with tempfile.TemporaryDirectory(prefix="mlapp-bench-") as tmp:
        workdir = Path(tmp)
        secrets = build.build_secrets(workdir)
        bench_base = None
        if "bentoml" in systems and engine.name == "podman":
            bench_base = bentoml_base(engine, base, workdir)
        for round_ in range(args.rounds):
            order = systems if round_ % 2 == 0 else systems[::-1]
            for name in order:
                tag = f"localhost/mlapp-bench-{name}:latest"
                argv = system_argv(name, engine, ctx, tag, base, bench_base, secrets)
                cold_argv = [*argv[:-1], "--no-cache", argv[-1]]
                print(f"round {round_ + 1}: {name} cold build", file=sys.stderr)
                load_before = os.getloadavg()[0]  # shared machine: builds' times follow the load
                cold = timed_build(cold_argv)
                warm = timed_build(argv)
                size = engine.image_size(tag)
                started = cold_starts(engine, tag, params, args.starts, ctx.bento.lineage.model_version)
                row = results[name]
                row.setdefault("build_cold_s", []).append(round(cold, 1))
                row.setdefault("build_warm_s", []).append(round(warm, 1))
                row.setdefault("size_mb", []).append(round(size / build.MB, 1))
                row.setdefault("ready_s", []).extend(started["ready_s"])
                row.setdefault("smoke", []).append(started["smoke"])
                row.setdefault("load_1min", []).append([load_before, os.getloadavg()[0]])
    report: dict[str, Any] = {
        **head,
        "engine": engine.name,
        "base": base,
        "pinned_base": params.image.base,
        "standin_base_build_s": round(base_s, 1),
        "rounds": args.rounds,
        "systems": {
            name: {
                "size_mb": row["size_mb"][-1],
                "build_cold_s": summary(row["build_cold_s"]),
                "build_warm_s": summary(row["build_warm_s"]),
                "ready_s": summary(row["ready_s"]),
                "smoke": row["smoke"],
                "load_1min": summary([load for pair in row["load_1min"] for load in pair]),
                "raw": row,
            }
            for name, row in results.items()
        },
    }
    if args.compare:
        lean, bento = report["systems"]["lean"], report["systems"]["bentoml"]
        report["ratios_lean_over_bentoml"] = {
            "size": round(lean["size_mb"] / bento["size_mb"], 3),
            "build_cold": round(lean["build_cold_s"]["median"] / bento["build_cold_s"]["median"], 3),
            "ready": round(lean["ready_s"]["median"] / bento["ready_s"]["median"], 3),
        }
    write_result(report, args.out)
    shown = {name: {k: v for k, v in s.items() if k != "raw"} for name, s in report["systems"].items()}
    print(json.dumps({k: v for k, v in report.items() if k != "systems"} | shown, indent=2))


if __name__ == "__main__":
    main()
