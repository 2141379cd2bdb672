"""A new user's first commands: `make run` and `make test-fast` in a fresh clone, timed.

    nice -n 10 uv run python benchmarks/fresh_clone.py [--rounds 2] [--targets run test-fast]
        [--python /usr/bin/python3.11] [--out .bench/fresh_clone.json]

Each round clones this repository's committed HEAD into a new temporary folder and runs the
targets there in order, as README's first screen gives them, with ``UV_PYTHON`` set to
``--python`` (Debian's 3.11.2 by default, the oldest the project admits). uv's package cache is
the caller's (warm after the first install), so the times are the budgets' "cache warm" case.
Per target: wall seconds per round, median, min and max; for pytest targets the test counts
from pytest's last line. Load average before and after each run is recorded beside it: the
budgets in README are for an idle machine, and a loaded one takes longer. Not run by tests.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from revisions import REPO, result_head, write_result

PYTEST_SUMMARY = re.compile(r"=+ (?P<summary>.*\d+ passed.*) in [\d.]+s")
TAIL_LINES = 20


def run_target(clone: Path, target: str, python: str) -> dict[str, Any]:
    """One ``make <target>`` in ``clone``: wall seconds, exit code, pytest's summary if any."""
    env = {**os.environ, "UV_PYTHON": python}
    env.pop("VIRTUAL_ENV", None)  # the caller's venv is not the clone's
    load = os.getloadavg()
    start = time.perf_counter()
    done = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    found = PYTEST_SUMMARY.findall(done.stdout)
    run: dict[str, Any] = {"wall_s": round(wall, 1), "exit": done.returncode, "load_before": load,
                           "load_after": os.getloadavg(), "pytest": found[-1] if found else None}  # fmt: skip
    if done.returncode:
        run["tail"] = (done.stdout + done.stderr).splitlines()[-TAIL_LINES:]
    return run


def one_round(targets: list[str], python: str) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="mlapp-fresh-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        runs = {}
        for target in targets:
            runs[target] = run_target(clone, target, python)
            print(f"make {target}: {runs[target]['wall_s']} s, exit {runs[target]['exit']}", flush=True)
            if runs[target]["exit"]:
                break  # the next target would measure a broken checkout
        return runs


def summary(rounds: list[dict[str, dict[str, Any]]], targets: list[str]) -> dict[str, Any]:
    out = {}
    for target in targets:
        # A round stops at its first failed target: the last round may lack this one, or have failed it.
        good = [r[target] for r in rounds if target in r and r[target]["exit"] == 0]
        walls = [run["wall_s"] for run in good]
        if walls:
            median = round(statistics.median(walls), 1)
            out[target] = {"median_s": median, "min_s": min(walls), "max_s": max(walls),
                           "ok_rounds": len(walls), "pytest": good[-1]["pytest"]}  # fmt: skip
    return out


def markdown(result: dict[str, Any]) -> str:
    rows = ["| target | median s | min s | max s | rounds ok | pytest |", "|---|---|---|---|---|---|"]
    for target, s in result["summary"].items():
        cells = [target, s["median_s"], s["min_s"], s["max_s"], s["ok_rounds"], s["pytest"] or ""]
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--targets", nargs="+", default=["run", "test-fast"])
    parser.add_argument("--python", default="/usr/bin/python3.11")
    parser.add_argument("--out", type=Path, default=REPO / ".bench" / "fresh_clone.json")
    args = parser.parse_args()
    python = subprocess.run([args.python, "--version"], capture_output=True, text=True, check=True)
    head = result_head("fresh_clone.py")  # before the rounds: its date and load are the start's
    rounds = [one_round(args.targets, args.python) for _ in range(args.rounds)]
    # The head's commit is the one each round clones; "python" is the clones' (UV_PYTHON), not this one's.
    result = {
        **head,
        "python": python.stdout.strip(),
        "rounds": rounds,
        "summary": summary(rounds, args.targets),
    }
    write_result(result, args.out, markdown)
    return 0 if all(r[t]["exit"] == 0 for r in rounds for t in r) else 1


if __name__ == "__main__":
    sys.exit(main())
