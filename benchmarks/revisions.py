"""What the benchmarks that run the code before a change beside the current one share
(monitor_scale.py, monitor_memory.py, cli_latency.py, pipeline_flood.py): an older revision checked
out beside this one, its view of this checkout's settings, and the head and writing of a result."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def worktree(ref: str, folder: Path) -> Iterator[str]:
    """``ref`` checked out (detached) in a git worktree at ``folder`` while the block runs, then
    removed; yields its commit."""
    # Here, not at the top: monitor_scale's measured worker imports this module under an older src/.
    from mlapp import proc

    sha = proc.output(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=REPO)
    proc.run(["git", "worktree", "add", "-q", "--detach", folder, sha], cwd=REPO)
    try:
        yield sha
    finally:
        proc.run(["git", "worktree", "remove", "--force", folder], cwd=REPO)


def params_for_old(current: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """This checkout's params as an older revision reads them: at every depth (``train.dask`` as
    much as ``train``), a setting its own params.yaml lacks is left out (it refuses settings it
    does not know), one only it has keeps its value; every other setting is this checkout's, so
    both revisions run alike. A map its params.yaml leaves empty names no settings (a per-column
    map such as ``monitor.psi_by_feature``): this checkout's is kept whole."""
    return {
        key: _setting_for_old(current[key], value) if key in current else value for key, value in old.items()
    }


def _setting_for_old(current: Any, old: Any) -> Any:
    if isinstance(current, dict) and isinstance(old, dict) and old:
        return params_for_old(current, old)
    return current


def result_head(script: str) -> dict[str, Any]:
    """When, on what machine (its load before; the caller adds ``load_after``) and by which
    command a result was measured."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": os.getloadavg(),
        },
        "command": f"nice -n 10 uv run python benchmarks/{script} " + " ".join(sys.argv[1:]),
    }


def write_result(
    result: dict[str, Any], out: Path, markdown: Callable[[dict[str, Any]], str] | None = None
) -> None:
    """``result``, its load average after added, as JSON at ``out``; with ``markdown``, its table
    beside it (``.md``) and on stdout."""
    result["machine"]["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if markdown is not None:
        out.with_suffix(".md").write_text((table := markdown(result)) + "\n")
        print(table)
