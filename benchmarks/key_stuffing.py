"""``/predict``'s parser on an object stuffed with keys, the code here against git revision ``--baseline``.

    nice -n 10 uv run python benchmarks/key_stuffing.py [--rounds 6] [--repeats 15] [--out DIR]

Each round runs the request parser (``request.RequestParser.parse``, as a worker's event loop
runs it) in one process per system, the systems alternating (odd rounds the code here first):
``current`` is this checkout's ``src/``, ``baseline`` the ``src/`` of ``--baseline`` extracted to a
temporary folder, each first on ``PYTHONPATH``, both reading this checkout's params.yaml and
one small model trained here. Each body is parsed ``--repeats`` times a round; the round keeps
the median. Bodies: ``record``, 33,000 unknown keys in the second record (a 293 KB body, refused
400 ``too_many_keys``); ``top_level``, the same keys beside ``records``; ``duplicates``, one key
written 33,000 times in a record (found by the colons orjson's keys leave over); ``valid``, 1,000
valid records (answered); ``invalid``, 1,000 records whose last has a value out of range (400 from
pydantic). Writes ``key_stuffing.json`` (``--name``: another baseline's run beside it) to ``--out``
(default benchmarks/results, the committed runs; ``--out .bench`` keeps it): per round and system
each body's median ms and the refusal's rule, then per body the medians over rounds and the
current/baseline ratio per round with its median and range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE = "679d7c5"  # before the fast path refused an object of too many keys
REPO = Path(__file__).resolve().parents[1]
STUFFED_KEYS = 33_000
# The worker runs this file under either src/: it imports only what both revisions have.


def bodies(record: dict[str, Any], rows: int) -> dict[str, bytes]:
    text = json.dumps(record)
    made_up = ", ".join(f'"{i:x}": 0' for i in range(STUFFED_KEYS))
    twice = ", ".join(['"k": 0'] * STUFFED_KEYS)
    valid = json.dumps({"records": [record] * rows})
    return {
        "record": f'{{"records": [{text}, {text[:-1]}, {made_up}}}]}}'.encode(),
        "top_level": f'{{"records": [{text}], {made_up}}}'.encode(),
        "duplicates": f'{{"records": [{text[:-1]}, {twice}}}]}}'.encode(),
        "valid": valid.encode(),
        "invalid": json.dumps({"records": [record] * (rows - 1) + [{**record, "age": -5}]}).encode(),
    }


def worker(model_dir: Path, repeats: int) -> None:
    """Each body's median ms over ``repeats`` parses, and what it came to, as JSON on stdout."""
    from mlapp import model as model_io
    from mlapp.params import load_params
    from mlapp.sample_data import generate
    from mlapp.schema import FEATURES
    from mlapp.serving.admission import Refused
    from mlapp.serving.request import RequestParser

    serving, data = (params := load_params(REPO / "params.yaml")).serving, params.data
    spec = model_io.load(model_dir).spec
    parser = RequestParser(
        FEATURES, spec, serving.max_rows, serving.max_error_details, id_column=None, time_column=None
    )
    record = json.loads(generate(1, 5)[list(FEATURES)].to_json(orient="records"))[0]
    record["age"] = 40  # a valid value, whatever the draw: "invalid" makes it -5
    assert data.label not in record
    out: dict[str, Any] = {}
    for name, body in bodies(record, serving.max_rows).items():
        times, outcome = [], "answered"
        for _ in range(repeats):
            start = time.perf_counter()
            try:
                parser.parse(body)
            except Refused as refused:
                outcome = f"{refused.status} " + ",".join(sorted(rule for _, rule in refused.labels))
            times.append(time.perf_counter() - start)
        out[name] = {"ms": 1000 * statistics.median(times), "outcome": outcome}
    print(json.dumps(out))


def train_model(folder: Path) -> Path:
    """A 30-tree model of the sample, as the serving tests train one: only its spec is read."""
    from mlapp import model as model_io
    from mlapp.params import load_params
    from mlapp.sample_data import generate
    from mlapp.stages.train import train

    params = load_params(REPO / "params.yaml")
    xgb = params.train.xgboost.model_copy(update={"n_estimators": 30})
    booster, spec = train(
        generate(2_000, 3),
        params.data.label,
        params.train.model_copy(update={"xgboost": xgb}),
        examples=params.validate_.max_failure_examples,
    )
    model_io.save(booster, spec, folder)
    return folder


def overall(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in rounds[0]["current"]:
        ms = {system: [r[system][name]["ms"] for r in rounds] for system in ("current", "baseline")}
        ratios = [new / old for new, old in zip(ms["current"], ms["baseline"], strict=True)]
        result[name] = {
            **{f"{system}_ms_median": statistics.median(values) for system, values in ms.items()},
            "current_over_baseline": {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            },
            "outcome": {system: rounds[0][system][name]["outcome"] for system in ms},
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="key_stuffing.json", help="the result's file name in --out")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the model folder
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.repeats)
        return 0
    from revisions import extract, result_head, revision, write_result

    head = result_head(Path(__file__).name)
    work = Path(tempfile.mkdtemp(prefix="key-stuffing-"))
    old = extract(args.baseline, work / "baseline")
    model_dir = train_model(work / "model")
    paths = {"current": REPO / "src", "baseline": old / "src"}
    rounds: list[dict[str, Any]] = []
    for i in range(args.rounds):
        order = ("current", "baseline") if i % 2 == 0 else ("baseline", "current")
        run = {}
        for system in order:
            argv_ = [sys.executable, __file__, "--worker", str(model_dir), "--repeats", str(args.repeats)]
            env = {**os.environ, "PYTHONPATH": str(paths[system])}
            done = subprocess.run(argv_, env=env, capture_output=True, text=True, check=True)
            run[system] = json.loads(done.stdout.splitlines()[-1])
        rounds.append(run)
        print(i + 1, {s: {b: round(v["ms"], 1) for b, v in run[s].items()} for s in order}, flush=True)
    result = {
        **head,
        "baseline": revision(args.baseline),
        "settings": {"rounds": args.rounds, "repeats": args.repeats, "stuffed_keys": STUFFED_KEYS},
        "rounds": rounds,
        "overall": overall(rounds),
    }
    write_result(result, args.out / args.name)
    print(json.dumps(result["overall"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
