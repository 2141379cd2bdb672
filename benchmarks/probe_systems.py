"""The servers benchmarks/probes.py floods: the systems it alternates (the current code, with
other ``serving.loop_slice_ms`` values, on other event loops, a baseline revision's) and the
ports each server of a run takes."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from pathlib import Path

import yaml

from bench_http import REPO
from mlapp.serving.local import free_port
from params_files import as_written, settings
from revisions import extract

LOOP_FACTORY = {"asyncio": "uvicorn.loops.asyncio:asyncio_loop_factory"}  # --loops: what "auto" becomes
HELD: list[socket.socket] = []  # ports picked from --ports, kept bound until the benchmark exits


def systems(args: argparse.Namespace, work: Path) -> dict[str, tuple[str, Path]]:
    """Each system by name: its PYTHONPATH (its src/ first) and params.yaml, written in ``work``."""
    src = str(REPO / "src")
    found = {"current": (src, REPO / "params.yaml")}
    for value in args.slices:
        params = settings(REPO / "params.yaml")
        params["serving"]["loop_slice_ms"] = value
        (work / f"params-{value:g}.yaml").write_text(yaml.safe_dump(params))
        found[f"current, loop_slice_ms={value:g}"] = (src, work / f"params-{value:g}.yaml")
    for loop in args.loops:
        (site := work / f"loop-{loop}").mkdir()
        (site / "sitecustomize.py").write_text(
            f"import uvicorn.config\nuvicorn.config.LOOP_FACTORIES['auto'] = {LOOP_FACTORY[loop]!r}\n"
        )
        found[f"current, loop={loop}"] = (f"{src}{os.pathsep}{site}", REPO / "params.yaml")
    if args.baseline:
        tree = extract(args.baseline, work / "baseline")
        found[args.baseline] = (str(tree / "src"), tree / "params.yaml")
    return found


def port_picker(ports: str | None) -> Callable[[], int]:
    """``free_port``, or with ``--ports FIRST-LAST`` the next port of that range nobody uses (held
    bound, as ``free_port`` holds its own, so no other pick takes it)."""
    if not ports:
        return free_port
    first, last = (int(p) for p in ports.split("-"))
    candidates = iter(range(first, last + 1))

    def pick() -> int:
        for port in candidates:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            HELD.append(sock)
            return port
        raise SystemExit(f"error: no free port left in {ports}")

    return pick


def with_probe_port(params_file: Path, dest: Path, pick: Callable[[], int]) -> tuple[Path, str | None]:
    """``params_file`` with a free ``serving.probe_port`` in ``dest`` and the probe port's URL, when
    the system has one (the code before the probe port has no such setting: as it is, None)."""
    params = as_written(params_file.read_text(), str(params_file))  # this checkout's, or a baseline's
    if "probe_port" not in params["serving"]:
        return params_file, None
    params["serving"]["probe_port"] = port = pick()
    dest.write_text(yaml.safe_dump(params))
    return dest, f"http://127.0.0.1:{port}"
