"""Requests reset when the server stops while keep-alive clients send.

    nice -n 10 uv run python benchmarks/stop_resets.py [--baseline REF ...] [--rounds 5] [--out DIR]
        [--ports 3100-3199]

Per run: ``mlapp serving serve`` (``serving.workers`` 2, traffic and probe ports free or from
``--ports``, a ``TMPDIR`` of its own), ``--clients`` threads each keeping one connection alive
and sending a ``--rows``-row ``/predict`` after the other; after ``--warm-s`` the server gets
SIGTERM. Each request sent after that is answered, refused (a new connection refused: the server
no longer listens; that client stops there) or reset (any other failure: reset, or closed
without an answer), the resets told apart by whether the request went on a kept-alive connection
or a new one. Also per run: the server's exit code, seconds from the signal to its exit, what it
left in its ``TMPDIR``. ``--baseline REF`` (repeatable) adds git revision REF's ``src/`` (first
on ``PYTHONPATH``), the systems alternating from round to round. The model is ``models/``
(``MLAPP_MODEL_DIR`` to use another). Writes ``stop_resets.json`` to ``--out``
(``benchmarks/results``, committed: docs/serving.md quotes it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench_http import REPO, model_missing, running
from mlapp.serving import PREDICTION_LOG_ENV
from params_files import as_written
from probe_systems import port_picker
from revisions import extract, result_head, revision, write_result
from serving_systems import unseen_rows


def clients(
    port: int, count: int, body: bytes, signalled: list[float]
) -> tuple[Counter[str], list[threading.Thread]]:
    """``count`` keep-alive clients sending ``body`` until refused; their outcomes once ``signalled``."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def client() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            new = conn is None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    conn.connect()
                except ConnectionRefusedError:
                    with lock:
                        outcomes["refused"] += 1
                    return
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                outcome = f"answered {answer.status}"
                closed = answer.will_close
            except (OSError, http.client.HTTPException):
                outcome = "reset on a new connection" if new else "reset on a kept-alive connection"
                closed = True
            if closed:
                conn.close()
                conn = None
            if signalled:
                with lock:
                    outcomes[outcome] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return outcomes, threads


def run(
    src: Path, params: Path, work: Path, body: bytes, args: argparse.Namespace, pick: Callable[[], int]
) -> dict[str, Any]:
    port, temp = pick(), Path(tempfile.mkdtemp(prefix="tmp-", dir=work))
    settings = as_written(params.read_text(), str(params))  # the file of the system under test
    settings["serving"] |= {"workers": 2, "probe_port": pick()}
    (work / f"params-{port}.yaml").write_text(yaml.safe_dump(settings))
    env = {
        "PYTHONPATH": str(src),
        "TMPDIR": str(temp),
        "BENTOML_HOME": str(work / f"bentoml-{port}"),
        PREDICTION_LOG_ENV: str(work / "predictions.jsonl"),
    }
    serve = [sys.executable, "-m", "mlapp", "--params", str(work / f"params-{port}.yaml"), "serving", "serve"]
    logs = REPO / ".bench" / "serving-logs"
    signalled: list[float] = []
    with running(
        "stop_resets", [*serve, "--port", str(port)], f"http://127.0.0.1:{port}/readyz", env, logs
    ) as proc:
        outcomes, threads = clients(port, args.clients, body, signalled)
        time.sleep(args.warm_s)
        signalled.append(time.monotonic())
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        stop_s = time.monotonic() - signalled[0]
        for thread in threads:
            thread.join(60)
    return {
        "after_signal": dict(sorted(outcomes.items())),
        "resets": sum(n for outcome, n in outcomes.items() if outcome.startswith("reset")),
        "exit": code,
        "stop_s": round(stop_s, 2),
        "left_in_tmpdir": sorted(path.name for path in temp.iterdir()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results", help="[benchmarks/results]"
    )
    parser.add_argument("--baseline", action="append", default=[], help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="rounds [5]")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive clients [16]")
    parser.add_argument("--rows", type=int, default=200, help="rows per request [200]")
    parser.add_argument("--warm-s", type=float, default=4.0, help="seconds of traffic before SIGTERM [4]")
    parser.add_argument("--ports", help="take the servers' ports from this range, e.g. 3100-3199")
    args = parser.parse_args(argv)
    pick = port_picker(args.ports)
    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2
    records = json.loads(unseen_rows().to_json(orient="records"))
    body = json.dumps({"records": (records * (args.rows // len(records) + 1))[: args.rows]}).encode()
    head = result_head(Path(__file__).name)  # before the rounds: the load they started under
    with tempfile.TemporaryDirectory(prefix="bench-stop-") as tmp:
        work = Path(tmp)
        systems = {"current": (REPO / "src", REPO / "params.yaml")}
        for ref in args.baseline:
            tree = extract(ref, work / ref)  # it makes the folder: origin/main is two levels
            systems[ref] = (tree / "src", tree / "params.yaml")
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            current: dict[str, Any] = {}
            for name, (src, params) in list(systems.items())[:: 1 if i % 2 == 0 else -1]:
                current[name] = run(src, params, work, body, args, pick)
                print(f"round {i + 1}: {name}: {json.dumps(current[name])}", flush=True)
            rounds.append(current)
    result = {
        **head,
        "clients": args.clients,
        "rows": args.rows,
        "warm_s": args.warm_s,
        "baselines": {ref: revision(ref) for ref in args.baseline},
        "rounds": rounds,
        "resets_per_run": {name: [r[name]["resets"] for r in rounds] for name in systems},
    }
    write_result(result, args.out / "stop_resets.json")
    print(json.dumps(result["resets_per_run"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
