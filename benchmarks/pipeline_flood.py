"""A worker's memory under a pipelining flood: this checkout beside a baseline ref.

    nice -n 10 uv run python benchmarks/pipeline_flood.py [--baseline 7f5bc61] [--connections 100]
        [--seconds 5] [--after-s 3] [--repeats 2] [--port N] [--out benchmarks/results/pipeline_flood.json]

Each run starts a real ``mlapp serving serve`` (one worker, ``serving.workers: 1``; the trained
model, ``make run``; params.yaml otherwise as this checkout's, read by the baseline as
``revisions.params_for_old`` says), waits until ``/readyz`` answers, then ``--connections``
connections each write ``REQUEST`` (``GET /livez``) over and over, as fast as the server takes
the bytes, for ``--seconds``: the ``unread`` variant reads no answer (the flood of the serving
fixes: BentoML's request timer, at most 32 parsed requests a connection), the ``read`` one reads
every answer as it comes. A connection the server closes is opened again at once. The worker's
RSS (psutil, benchmarks/bench_http.py) is sampled every ``SAMPLE_S``: at the start (``start_mb``),
its peak over the flood and ``--after-s`` seconds after the clients have closed (``peak_mb``), and
at that end (``after_mb``); the requests written (``requests_written``: into the sockets, what
the kernel's buffers hold for the server included) and the answers read (``answers_read``).
``--baseline REF`` is checked out with ``revisions.worktree`` and run with this environment's
packages, ``PYTHONPATH=<worktree>/src``; per repeat the systems alternate (A B, then B A), a fresh
server each run. Per variant and system: median, min and max of each measure, baseline / current
of the medians and per repeat. Writes JSON and the table as .md (docs/serving.md quotes them).
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench_http import group_pids, model_missing, rss_bytes, running
from cli_latency import cell, ratio_cell, spread
from mlapp.params import load_params
from mlapp.serving import MODEL_DIR_ENV, PREDICTION_LOG_ENV
from mlapp.serving.local import free_ports
from params_files import as_written, settings
from revisions import REPO, params_for_old, result_head, worktree, write_result

REQUEST = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
WRITE = REQUEST * (65536 // len(REQUEST))  # what one send offers: whole requests, ~64 KiB
SAMPLE_S = 0.5
VARIANTS = ("unread", "read")
MEASURES = ("start_mb", "peak_mb", "after_mb", "requests_written", "answers_read")
MB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline", help="git ref to compare with (default: this checkout only)")
    parser.add_argument("--connections", type=int, default=100, help="pipelining clients")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long they write")
    parser.add_argument("--after-s", type=float, default=3.0, help="RSS sampled this long after they close")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--port", type=int, help="traffic port, the probe port the next (default: free ones)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pipeline_flood.json")
    args = parser.parse_args(argv)
    if min(args.connections, args.repeats) < 1 or min(args.seconds, args.after_s) <= 0:
        parser.error("--connections and --repeats must be at least 1, --seconds and --after-s over 0")
    return args


def what_ran(args: argparse.Namespace) -> dict[str, Any]:
    """The flood every run gets, as the result records it."""
    return {
        "connections": args.connections,
        "seconds": args.seconds,
        "after_s": args.after_s,
        "request": REQUEST.decode(),
        "variants": args.variants,
        "workers": 1,
        "sample_s": SAMPLE_S,
    }


def model_dir() -> Path:
    """The trained model both systems serve: this checkout's (``make run``)."""
    return REPO / load_params(REPO / "params.yaml").train.model_dir


def params_file(tree: Path, ports: tuple[int, int], folder: Path) -> Path:
    """This checkout's params.yaml as ``tree``'s code reads it, one worker, the probe port ours."""
    params = settings(REPO / "params.yaml")
    if tree != REPO:
        params = params_for_old(
            params, as_written((tree / "params.yaml").read_text(), str(tree / "params.yaml"))
        )
    params["serving"] |= {"workers": 1, "probe_port": ports[1]}
    path = folder / f"params-{ports[0]}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def worker_pid(leader: int) -> int:
    """The one worker: the server's process without children (the supervisor forks it)."""
    leaves = [pid for pid in group_pids(leader) if not psutil.Process(pid).children()]
    if len(leaves) != 1:
        raise RuntimeError(f"expected one worker process, found {leaves} under {leader}")
    return leaves[0]


def flood(port: int, args: argparse.Namespace, read: bool, sample: Callable[[], None]) -> dict[str, int]:
    """``args.connections`` clients writing ``REQUEST`` back to back for ``args.seconds``, reading
    the answers if ``read``; ``sample`` is called every ``SAMPLE_S``. Counts what was sent."""
    selector, pending = selectors.DefaultSelector(), {}
    counts = {"bytes_sent": 0, "answers_read": 0, "reopened": 0}
    tails: dict[socket.socket, bytes] = {}  # an answer's blank line may span two reads
    events = selectors.EVENT_WRITE | (selectors.EVENT_READ if read else 0)

    def open_one() -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        pending[sock] = memoryview(WRITE)
        selector.register(sock, events)

    for _ in range(args.connections):
        open_one()
    end, due = time.monotonic() + args.seconds, 0.0
    while (now := time.monotonic()) < end:
        if now >= due:
            sample()
            due = now + SAMPLE_S
        for key, ready in selector.select(timeout=0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                if ready & selectors.EVENT_READ:
                    got = tails.get(sock, b"") + (data := sock.recv(1 << 16))
                    if not data:
                        raise ConnectionResetError("closed by the server")
                    counts["answers_read"] += got.count(b"\r\n\r\n")  # one per answer (its body: a newline)
                    tails[sock] = got[-3:]
                if ready & selectors.EVENT_WRITE:
                    sent = sock.send(pending[sock])
                    counts["bytes_sent"] += sent
                    pending[sock] = pending[sock][sent:] or memoryview(WRITE)
            except OSError:  # closed or reset by the server (an unread answer's deadline): reopened
                selector.unregister(sock)
                sock.close()
                del pending[sock]
                tails.pop(sock, None)
                counts["reopened"] += 1
                open_one()
    for sock in list(pending):
        sock.close()
    selector.close()
    return counts


def one_run(tree: Path, variant: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A fresh server of ``tree``'s code flooded once: the worker's RSS, what was sent."""
    traffic, probe = (args.port, args.port + 1) if args.port else free_ports(2)
    ports = (traffic, probe)
    env = {
        "PYTHONPATH": str(tree / "src"),
        MODEL_DIR_ENV: str(model_dir()),
        PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
        "BENTOML_HOME": str(work / "bentoml"),
    }
    argv = [
        sys.executable,
        "-m",
        "mlapp",
        "--params",
        str(params_file(tree, ports, work)),
        "serving",
        "serve",
    ]
    url = f"http://127.0.0.1:{ports[0]}"
    with running(
        "pipeline_flood", [*argv, "--port", str(ports[0])], url + "/readyz", env, work / "logs"
    ) as server:
        worker = worker_pid(server.pid)
        samples: list[tuple[float, float]] = []
        begin = time.monotonic()

        def sample() -> None:
            samples.append((round(time.monotonic() - begin, 2), round(rss_bytes([worker]) / MB, 1)))

        sample()
        counts = flood(ports[0], args, variant == "read", sample)
        left = time.monotonic()
        while time.monotonic() - left < args.after_s:
            time.sleep(SAMPLE_S)
            sample()
    written = counts["bytes_sent"] // len(REQUEST)  # into the sockets: the kernel's buffers included
    return rss(samples) | {"requests_written": written, **counts, "samples": samples}


def rss(samples: list[tuple[float, float]]) -> dict[str, float]:
    """The worker's RSS samples of a run (seconds, MB) as its start, peak (flood and after) and end."""
    mbs = [mb for _, mb in samples]
    return {"start_mb": mbs[0], "peak_mb": max(mbs), "after_mb": mbs[-1]}


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per system each measure's spread; with a baseline, baseline / current of the medians and
    per repeat (in the shape cli_latency.ratio_cell prints)."""
    out: dict[str, Any] = {
        "systems": {
            s: {m: spread([r[m] for r in rows]) for m in MEASURES} | {"runs": rows}
            for s, rows in runs.items()
        }
    }
    if set(runs) == {"current", "baseline"}:
        ratios = {}
        for m in MEASURES:
            new, old = (out["systems"][s][m]["median"] for s in ("current", "baseline"))
            pairs = zip(runs["baseline"], runs["current"], strict=True)
            per_repeat = [round(b[m] / c[m], 3) for b, c in pairs if c[m]]
            ratios[m] = {"of_medians": round(old / new, 3) if new else None, "per_repeat": spread(per_repeat)}
        out["baseline_over_current"] = ratios
    return out


def markdown(result: dict[str, Any]) -> str:
    """Per variant a table: each measure's median (min-max) per system, and baseline / current."""
    flood_ = result["flood"]
    lines = [
        f"{flood_['connections']} connections pipelining `{flood_['request'].splitlines()[0]}` for "
        f"{flood_['seconds']:g} s, one worker; RSS in MB, {flood_['after_s']:g} s after they close "
        f"(after_mb); median (min-max) of {result['repeats']} runs"
    ]
    for variant, row in result["variants"].items():
        systems = list(row["systems"])
        ratio = ["baseline / current"] if "baseline_over_current" in row else []
        lines += ["", f"**{variant}**", "", "| measure | " + " | ".join(systems + ratio) + " |"]
        lines.append("|---" + "|---:" * len(systems + ratio) + "|")
        for m in MEASURES:
            cells = [cell(row["systems"][s][m], digits=0) for s in systems]
            cells += [ratio_cell(row["baseline_over_current"][m])] if ratio else []
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    load = {w: ", ".join(f"{x:.1f}" for x in result["machine"][f"load_{w}"]) for w in ("before", "after")}
    lines.append(f"\nload average (1, 5, 15 min) before {load['before']}; after {load['after']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if missing := model_missing(model_dir()):
        print(missing, file=sys.stderr)
        return 2
    result = result_head(Path(__file__).name) | {"flood": what_ran(args), "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as folder:
        work, trees = Path(folder), {"current": REPO}
        baseline = worktree(args.baseline, work / "baseline") if args.baseline else contextlib.nullcontext()
        with baseline as sha:
            if sha:
                result["baseline"] = {"ref": args.baseline, "commit": sha}
                trees["baseline"] = work / "baseline"
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {
                v: {s: [] for s in trees} for v in args.variants
            }
            result["orders"] = [list(trees)[:: 1 if i % 2 == 0 else -1] for i in range(args.repeats)]
            for i, order in enumerate(result["orders"]):
                for variant in args.variants:
                    for system in order:  # alternating, so drifting load hits both alike
                        run = one_run(trees[system], variant, args, work)
                        runs[variant][system].append(run)
                        print(f"repeat {i + 1} {variant} {system}: {run['start_mb']} -> {run['peak_mb']}"
                              f" -> {run['after_mb']} MB", file=sys.stderr)  # fmt: skip
    result["variants"] = {v: summary(rows) for v, rows in runs.items()}
    result["systems"] = list(trees)
    write_result(result, args.out, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
