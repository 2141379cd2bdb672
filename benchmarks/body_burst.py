"""A burst of valid bodies at the cap against the serving image, run as infra/base runs it.

    nice -n 10 uv run python benchmarks/body_burst.py --old localhost/mlapp:<tag> \\
        --new localhost/mlapp:<tag> [--rounds 3] [--clients 600] [--out benchmarks/results]

Each image is run with the Deployment's limits (``mlapp.image.pod``: memory, swap off, CPUs;
``serving.workers: auto`` follows the CPUs), the way ``make image`` runs it. ``--clients``
connections then each send one valid ``/predict`` body of 1,000 rows, all at once (``--body cap``:
padded with whitespace to one byte under the body cap; ``compact``: no whitespace, the most
parsed records per byte); meanwhile a 1-row request is sent every
``--small-every-s`` until the burst is over. Per image and round: the container's idle memory,
its peak (the memory cgroup's high-water mark: ``memory.peak``, or ``max_usage_in_bytes`` on
cgroup v1), OOM kills in the cgroup, the burst's answers by status (a 429 told apart by its
body: BentoML's ``max_concurrency`` or the body budget), and the small requests' share answered
200 and their latency. The images alternate (odd rounds old first). Writes
``body_burst-<body>.json`` (``--out`` defaults to ``.bench``; the committed runs are in
benchmarks/results, their images named in each file). ``make image`` in a checkout of a revision
builds its image, tagged ``localhost/mlapp:<model version>-<commit>`` (``podman images``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mlapp import proc
from mlapp.image import build, pod
from mlapp.image.engine import Engine
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving.local import free_port
from mlapp.serving.settings import body_cap

REPO = Path(__file__).resolve().parents[1]
CHUNK = 65536  # bytes written per drain: the client never copies a whole body
MiB = 2**20


def bodies(cap_bytes: int, shape: str) -> tuple[bytes, bytes]:
    """A 1,000-row body and a 1-row one. ``cap``: padded with whitespace (valid JSON) to one byte
    under the cap, the most bytes a request holds; ``compact``: no spaces at all, the most rows
    (parsed records) per byte."""
    frame = generate(1_000, 20261124)[list(FEATURES)]
    records = json.loads(frame.to_json(orient="records"))
    small = json.dumps({"records": records[:1]}).encode()
    if shape == "compact":
        return json.dumps({"records": records}, separators=(",", ":")).encode(), small
    big = json.dumps({"records": records}, indent=2).encode()
    if len(big) >= cap_bytes:
        raise SystemExit(f"1,000 rows take {len(big)} bytes, over the cap of {cap_bytes}")
    return big + b" " * (cap_bytes - 1 - len(big)), small


def head(port: int, length: int) -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


async def post(port: int, body: bytes, timeout_s: float) -> tuple[str, float]:
    """One request on its own connection: its outcome (status, 429 kind, or error) and seconds.
    The answer is read while the body is sent: a server that answers early (413, 429) and
    closes must not turn into a write error here."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    with socket.socket() as sock:
        sock.setblocking(False)
        sending, answer = None, bytearray()
        try:
            async with asyncio.timeout(timeout_s):
                await loop.sock_connect(sock, ("127.0.0.1", port))
                sending = asyncio.ensure_future(_send(loop, sock, head(port, len(body)), memoryview(body)))
                while chunk := await loop.sock_recv(sock, CHUNK):  # Connection: close: until EOF
                    answer += chunk
        except (TimeoutError, OSError) as exc:
            if not answer.startswith(b"HTTP/"):
                return type(exc).__name__, time.perf_counter() - started
        finally:
            if sending is not None:
                sending.cancel()
    outcome = answer.split(b" ", 2)[1].decode()
    if outcome == "429":
        outcome += " budget" if b"max_body_bytes_in_flight" in answer else " max_concurrency"
    return outcome, time.perf_counter() - started


async def _send(loop: asyncio.AbstractEventLoop, sock: socket.socket, head: bytes, body: memoryview) -> None:
    """The request in chunks; a server that answered early and closed is not an error here."""
    try:
        await loop.sock_sendall(sock, head)
        for start in range(0, len(body), CHUNK):
            await loop.sock_sendall(sock, body[start : start + CHUNK])
    except OSError:
        pass


async def burst(
    port: int, big: bytes, small: bytes, clients: int, every_s: float, timeout_s: float
) -> dict[str, Any]:
    tasks = [asyncio.ensure_future(post(port, big, timeout_s)) for _ in range(clients)]
    done = asyncio.ensure_future(asyncio.gather(*tasks))
    smalls = []
    while not done.done():
        smalls.append(asyncio.ensure_future(post(port, small, timeout_s)))
        await asyncio.sleep(every_s)
    answers, small_answers = await done, await asyncio.gather(*smalls)
    latencies = sorted(s for outcome, s in small_answers if outcome == "200")
    return {
        "burst": dict(Counter(outcome for outcome, _ in answers)),
        "burst_s": round(max(s for _, s in answers), 2),
        "small": dict(Counter(outcome for outcome, _ in small_answers)),
        "small_answered_share": round(len(latencies) / len(small_answers), 3),
        "small_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "small_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
    }


def cgroup_dir(engine: Engine, name: str) -> Path:
    """The container's memory cgroup on the host (v2 unified, or v1's memory hierarchy)."""
    path = proc.output(engine.argv("container", "inspect", "--format", "{{.State.CgroupPath}}", name))
    path = path.strip().lstrip("/")
    for root in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
        if (root / path / "memory.usage_in_bytes").is_file() or (root / path / "memory.peak").is_file():
            return root / path
    raise SystemExit(f"no memory cgroup for {name} at {path}")


def memory(folder: Path) -> dict[str, int]:
    """Now, peak and OOM kills, from whichever cgroup version the host has."""

    def read(*names: str) -> int:
        for file_name in names:
            if (folder / file_name).is_file():
                return int((folder / file_name).read_text().split()[0])
        raise SystemExit(f"none of {names} in {folder}")

    events = folder / ("memory.events" if (folder / "memory.events").is_file() else "memory.oom_control")
    counts = dict(line.split() for line in events.read_text().splitlines() if line.strip())
    return {
        "now": read("memory.current", "memory.usage_in_bytes"),
        "peak": read("memory.peak", "memory.max_usage_in_bytes"),
        "oom_kills": int(counts.get("oom_kill", 0)),
    }


def one_run(engine: Engine, image: str, limits: pod.PodLimits, args: argparse.Namespace) -> dict[str, Any]:
    params = load_params(REPO / "params.yaml")
    big, small = bodies(body_cap(params.serving).limit, args.body)
    name = f"mlapp-burst-{secrets.token_hex(4)}"
    port = free_port()
    ports = ((port, build.CONTAINER_PORT),)
    engine.run_detached(image, name, ports, build.CONTAINER_ENV, build.TMPFS, limits.run_options())
    try:
        build.wait_ready(engine, name, f"http://127.0.0.1:{port}", params.image.ready_timeout_s)
        folder = cgroup_dir(engine, name)
        asyncio.run(burst(port, small, small, 20, 0.01, 30))  # warm: every worker has predicted
        time.sleep(args.settle_s)
        idle = memory(folder)
        result = asyncio.run(burst(port, big, small, args.clients, args.small_every_s, args.timeout_s))
        time.sleep(args.settle_s)
        after = memory(folder)
        result |= {
            "idle_mb": round(idle["now"] / MiB, 1),
            "peak_mb": round(after["peak"] / MiB, 1),
            "peak_share_of_limit": round(after["peak"] / limits.memory_bytes, 3),
            "after_mb": round(after["now"] / MiB, 1),
            "oom_kills": after["oom_kills"],
            "running": engine.running(name),
        }
    finally:
        engine.remove(name)
    print(json.dumps({"image": image, **result}), file=sys.stderr, flush=True)
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    peaks = [r["peak_mb"] for r in runs]
    shares = [r["small_answered_share"] for r in runs]
    p50s = [r["small_p50_ms"] for r in runs if r["small_p50_ms"] is not None]
    return {
        "peak_mb": {"median": statistics.median(peaks), "min": min(peaks), "max": max(peaks)},
        "small_answered_share": {"median": statistics.median(shares), "min": min(shares)},
        "small_p50_ms": {"median": statistics.median(p50s), "max": max(p50s)} if p50s else None,
        "oom_kills": sum(r["oom_kills"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the image before the change")
    parser.add_argument("--new", required=True, help="the image after it")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=600)
    parser.add_argument("--body", default="cap", choices=["cap", "compact"], help="see bodies()")
    parser.add_argument("--small-every-s", type=float, default=0.1)
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--engine", default="auto", choices=["auto", "docker", "podman"])
    parser.add_argument("--out", type=Path, default=Path(".bench"))
    args = parser.parse_args()
    # Here: tests load this module by its path alone, benchmarks/ not on sys.path.
    from bench_http import engine_or_exit
    from revisions import result_head, write_result

    head = result_head(Path(__file__).name)
    engine = engine_or_exit(args.engine)
    for image in (args.old, args.new):
        if not engine.image_exists(image):  # else the engine tries to pull it, and fails mid-run
            hint = "`make image` in a checkout of that revision builds it (as mlapp:<model version>-<commit>)"
            print(f"error: no image {image} ({engine.name} images): {hint}", file=sys.stderr)
            sys.exit(2)
    params = load_params(REPO / "params.yaml")
    limits = pod.read_limits(REPO / params.delivery.infra_dir / pod.DEPLOYMENT)
    images = {"old": args.old, "new": args.new}
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for round_ in range(args.rounds):
        for system in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
            runs[system].append(one_run(engine, images[system], limits, args) | {"round": round_ + 1})
    peaks = [n["peak_mb"] / o["peak_mb"] for n, o in zip(runs["new"], runs["old"], strict=True)]
    report = {
        **head,
        "images": images,
        "limits": {"memory_mb": limits.memory_bytes / MiB, "cpus": limits.cpus},
        "settings": {k: v for k, v in vars(args).items() if k not in ("old", "new", "out")},
        "summary": {name: summary(r) for name, r in runs.items()},
        "peak_ratio_new_over_old": {
            "median": round(statistics.median(peaks), 3),
            "min": round(min(peaks), 3),
            "max": round(max(peaks), 3),
        },
        "runs": runs,
    }
    write_result(report, args.out / f"body_burst-{args.body}.json")
    print(json.dumps({k: report[k] for k in ("summary", "peak_ratio_new_over_old")}, indent=2))


if __name__ == "__main__":
    main()
