"""What one logged run sends an MLflow server: `mlapp pipeline register` of a trained project that
has no run there yet (so it logs one, then registers it), this checkout beside a baseline ref.

    nice -n 10 uv run python benchmarks/model_upload.py --project DIR --server URL --baseline REF
        [--rounds 2] [--latency-ms 0 50] [--out .bench/model_upload.json]

``--project``: a trained, committed project (a copy of this repository after `mlapp pipeline
generate`, `dvc add data`, `dvc repro`, `git commit`); every round works in a copy of it with
experiment and model names of its own, so each logs a new run. ``--server``: an `mlflow server`
with ``--serve-artifacts`` (MLAPP_TEST_MLFLOW_SERVER). The command talks to it through a proxy
here that counts every request (method, path, body bytes) and, with ``--latency-ms``, holds each
one that long before passing it on: a server across a network. ``--baseline REF``'s ``src/`` is
extracted and run with this environment's packages (``PYTHONPATH``), as cli_latency.py does.
Per system and latency: requests (all, artifact), artifact bytes uploaded, wall seconds; medians,
and the ratios baseline / current. Writes JSON and the table as .md. Not run by tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from mlapp import proc
from revisions import REPO, extract, result_head, revision, write_result

ARTIFACTS = "/api/2.0/mlflow-artifacts/"


@contextmanager
def counting_proxy(upstream: str, latency_s: float, seen: Counter[str]) -> Iterator[str]:
    """A proxy to ``upstream`` counting into ``seen``: ``requests``, ``artifact_requests`` and
    ``artifact_bytes`` (bodies sent to the artifact API); each request held ``latency_s`` first."""
    lock = threading.Lock()
    session = requests.Session()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a client of a real server gets

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            if "chunked" in self.headers.get("Transfer-Encoding", ""):
                raise RuntimeError(f"a chunked body to {self.path}: this proxy reads Content-Length only")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen["requests"] += 1
                if self.path.startswith(ARTIFACTS):
                    seen["artifact_requests"] += 1
                    seen["artifact_bytes"] += len(body)
            time.sleep(latency_s)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            answer = session.request(self.command, f"{upstream}{self.path}", data=body, headers=headers,
                                     timeout=120, stream=False)  # fmt: skip
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def project_copy(project: Path, dest: Path) -> Path:
    """``project`` copied to ``dest`` with an experiment and model name of its own, committed."""
    shutil.copytree(project, dest, symlinks=True)
    name = f"upload-{uuid.uuid4().hex[:10]}"
    params = dest / "params.yaml"
    text = params.read_text().replace("  experiment: mlapp\n", f"  experiment: {name}\n")
    params.write_text(text.replace("  model_name: mlapp\n", f"  model_name: {name}\n"))
    proc.run(["git", "commit", "-qam", "names of its own"], cwd=dest)
    return dest


def one_run(project: Path, src: Path, server: str, latency_s: float, work: Path) -> dict[str, Any]:
    root = project_copy(project, work / uuid.uuid4().hex[:8])
    seen: Counter[str] = Counter()
    with counting_proxy(server, latency_s, seen) as url:
        env = {"PYTHONPATH": str(src), "MLFLOW_TRACKING_URI": url}
        start = time.perf_counter()
        done = proc.run([*proc.tool("mlapp"), "pipeline", "register"], cwd=root, env=env, check=False)
        wall = time.perf_counter() - start
    shutil.rmtree(root)
    if done.returncode:
        raise SystemExit(f"`mlapp pipeline register` with {src} failed:\n{done.stdout}{done.stderr}")
    return {"wall_s": round(wall, 2), **seen}


def median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| latency ms | system | requests | artifact requests | artifact bytes | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for latency, systems in result["medians"].items():
        for system, m in systems.items():
            cells = [latency, system, m["requests"], m["artifact_requests"], m["artifact_bytes"], m["wall_s"]]
            rows.append("| " + " | ".join(str(c) for c in cells) + " |")
        ratio = result["ratios_baseline_over_current"][latency]
        rows.append(f"| {latency} | ratio | " + " | ".join(str(ratio[k]) for k in KEYS) + " |")
    return "\n".join(rows)


KEYS = ("requests", "artifact_requests", "artifact_bytes", "wall_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--server", default=os.environ.get("MLAPP_TEST_MLFLOW_SERVER"))
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0])
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "model_upload.json")
    args = parser.parse_args()
    if not args.server:
        raise SystemExit("--server (or MLAPP_TEST_MLFLOW_SERVER): an `mlflow server --serve-artifacts`")
    result: dict[str, Any] = {**result_head("model_upload.py"), "baseline": revision(args.baseline)}
    with tempfile.TemporaryDirectory(prefix="mlapp-upload-") as tmp:
        work = Path(tmp)
        systems = {"baseline": extract(args.baseline, work / "baseline") / "src", "current": REPO / "src"}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for latency in args.latency_ms:
            runs[str(latency)] = {name: [] for name in systems}
            for i in range(args.rounds):
                order = list(systems) if i % 2 == 0 else list(reversed(systems))  # drifting load hits both
                for name in order:
                    run = one_run(args.project, systems[name], args.server, latency / 1000, work)
                    runs[str(latency)][name].append(run)
                    print(f"{latency} ms {name}: {run}", flush=True)
    result["runs"] = runs
    result["medians"] = {
        lat: {name: {k: median(rs, k) for k in KEYS} for name, rs in by_system.items()}
        for lat, by_system in runs.items()
    }
    result["ratios_baseline_over_current"] = {
        lat: {k: round(m["baseline"][k] / m["current"][k], 2) for k in KEYS}
        for lat, m in result["medians"].items()
    }
    write_result(result, args.out, markdown)


if __name__ == "__main__":
    main()
