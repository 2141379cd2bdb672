"""HTTP load helpers for benchmarks/serving.py: servers in their own process group, wrk runs;
and the one-line errors the benchmarks give when a prerequisite (wrk, the model, a container
engine) is missing.

wrk is closed-loop: each connection sends its next request when the previous one returns
(plus an optional per-request ``delay``). Requests are written as raw HTTP in Lua, so a
script can send what a careless or hostile client sends (two Content-Type headers, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from mlapp.errors import UserError
from mlapp.image.engine import Engine, detect
from mlapp.model import MODEL_FILE, missing
from mlapp.params import load_params
from mlapp.serving import MODEL_DIR_ENV

REPO = Path(__file__).resolve().parents[1]
WRK_HELP = "wrk is not on PATH: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`."


def wrk_missing() -> str | None:
    """The one-line error for a benchmark that needs wrk, before it starts a server; None if found."""
    return None if shutil.which("wrk") else f"error: {WRK_HELP}"


def engine_or_exit(choice: str) -> Engine:
    """The container engine ``--engine`` names (``auto``: docker, else podman), or its one-line
    error and exit 2 when there is none, as for the other prerequisites."""
    try:
        return detect(choice)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def model_missing(model_dir: Path | None = None) -> str | None:
    """The one-line error for a benchmark of the trained model run before `make run`; None if
    the model is there. ``model_dir``: default ``MLAPP_MODEL_DIR``, else params.yaml's."""
    default = REPO / load_params(REPO / "params.yaml").train.model_dir
    folder = model_dir or Path(os.environ.get(MODEL_DIR_ENV) or default)
    return None if (folder / MODEL_FILE).is_file() else f"error: {missing(folder)}"


@contextmanager
def running(
    name: str, argv: list[str], ready: str, env: dict[str, str], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in its own process group, wait for ``ready`` to answer 200, stop it after."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(ready, proc, 240, f"{name}: see {logs / f'{name}.log'}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and any workers it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def wait_ready(
    url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float, what: str, poll_s: float = 0.5
) -> float:
    """Seconds until ``url`` answers 200."""
    start = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {what}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"not ready after {timeout_s} s: {what}")
        time.sleep(poll_s)


def group_pids(leader: int) -> list[int]:
    """``leader`` and all its descendants (BentoML's workers run in sessions of their own)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [leader], [leader]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of ``pids`` (/proc's VmRSS, read by psutil); a process gone by then counts 0."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


def raw_request(path: str, body: bytes | str, headers: list[str]) -> str:
    text = body.decode() if isinstance(body, bytes) else body
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, f"Content-Length: {len(text.encode())}"]
    return "\r\n".join(head) + "\r\n\r\n" + text


def lua(path: Path, requests: list[str], delay_ms: float | None = None) -> Path:
    """A wrk script cycling through raw ``requests``."""
    lines = (
        ["local reqs = {"]
        + [f"  {json.dumps(r)}," for r in requests]
        + ["}", "local i = 0", "request = function() i = i + 1; return reqs[(i % #reqs) + 1] end"]
    )
    if delay_ms:
        lines.append(f"function delay() return {delay_ms:.3f} end")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Run:
    requests: int
    seconds: float
    req_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk_argv(url: str, script: Path, concurrency: int, seconds: float, threads: int = 2) -> list[str]:
    shape = [f"-t{min(threads, concurrency)}", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "10s"]
    return ["wrk", *shape, "--latency", "-s", str(script), url]


def parse(text: str) -> Run:
    grab = lambda pattern: re.search(pattern, text)  # noqa: E731
    done: Any = grab(r"(\d+) requests in ([\d.]+)(\w+)")
    socket_errors = grab(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non_2xx = grab(r"Non-2xx or 3xx responses: (\d+)")
    return Run(
        requests=int(done.group(1)),
        seconds=to_ms(done.group(2) + done.group(3)) / 1e3,
        req_s=float(grab(r"Requests/sec:\s+([\d.]+)").group(1)),  # type: ignore[union-attr]
        p50_ms=to_ms(grab(r"\s50%\s+([\d.]+\w+)").group(1)),  # type: ignore[union-attr]
        p99_ms=to_ms(grab(r"\s99%\s+([\d.]+\w+)").group(1)),  # type: ignore[union-attr]
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in socket_errors.groups()) if socket_errors else 0,
    )


def wrk(url: str, script: Path, concurrency: int, seconds: float) -> Run:
    argv = wrk_argv(url, script, concurrency, seconds)
    return parse(
        subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    )


def wrk_background(url: str, script: Path, concurrency: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        wrk_argv(url, script, concurrency, seconds, threads=1), stdout=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> Run:
    out, _ = proc.communicate(timeout=120)
    return parse(out)
