"""What the benchmarks that run the code before a change beside the current one share
(monitor_scale.py, monitor_memory.py, cli_latency.py, pipeline_flood.py, probes.py, probe_flood.py,
stop_resets.py): an older revision checked out beside this one (or its ``src/`` extracted), its view
of this checkout's settings, and the head and writing of a result."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def worktree(ref: str, folder: Path) -> Iterator[str]:
    """``ref`` checked out (detached) in a git worktree at ``folder`` while the block runs, then
    removed; yields its commit. A ``ref`` this clone lacks stops the benchmark with one line."""
    # Here, not at the top: monitor_scale's measured worker imports this module under an older src/.
    from mlapp import proc

    require_ref(ref)
    sha = proc.output(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=REPO)
    proc.run(["git", "worktree", "add", "-q", "--detach", folder, sha], cwd=REPO)
    try:
        yield sha
    finally:
        proc.run(["git", "worktree", "remove", "--force", folder], cwd=REPO)


def ref_missing(ref: str) -> str | None:
    """The one-line error for a baseline ``ref`` this clone does not hold (a short hash from a
    longer history, a branch only the remote has); None if it resolves."""
    from mlapp import proc  # here, not at the top: see worktree()

    found = proc.run(["git", "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], cwd=REPO, check=False)
    if found.returncode == 0:
        return None
    # origin/x is made by fetching x from origin; `git fetch origin origin/x` finds no such ref.
    remote_branch = ref.removeprefix("origin/")
    how = (
        f"`git fetch origin {remote_branch}`"
        if remote_branch != ref
        else f"`git fetch origin {ref}`; a branch: `git fetch origin {ref}:{ref}`"
    )
    return f"error: git revision {ref!r} is not in this clone ({REPO}): fetch it ({how}) or name another one"


def require_ref(ref: str) -> None:
    """Stop as a missing prerequisite does (bench_http: one line, exit 2) when ``ref`` is missing."""
    if missing := ref_missing(ref):
        print(missing, file=sys.stderr)
        raise SystemExit(2)


def revision(ref: str) -> str:
    """``ref``'s short commit hash."""
    from mlapp import proc  # here, not at the top: see worktree()

    return proc.output(["git", "rev-parse", "--short", ref], cwd=REPO)


def extract(ref: str, dest: Path) -> Path:
    """``src/`` and ``params.yaml`` of git revision ``ref``, extracted to ``dest``; a ``ref`` this
    clone lacks stops the benchmark with one line."""
    require_ref(ref)
    # subprocess, not mlapp.proc: the archive is bytes, proc's output text.
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src", "params.yaml"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    # tar(1), not tarfile: its "data" filter is missing from Debian's Python 3.11.2.
    dest.mkdir(parents=True, exist_ok=True)  # tar -C needs it: main passes a folder not made yet
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def params_for_old(
    current: dict[str, Any], old: dict[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """This checkout's params as an older revision reads them: at every depth (``train.dask`` as
    much as ``train``), a setting its own params.yaml lacks is left out (it refuses settings it
    does not know), one only it has keeps its value; every other setting is this checkout's, so
    both revisions run alike. A map keyed by name (``name_keyed``: per column, feature, metric)
    holds names, not settings: this checkout's entries, all of them (the old file's keys are only
    the names it happened to list); an entry both have that is itself a map of settings (a
    per-environment block) is read as above."""
    return {
        key: _setting_for_old(current[key], value, (*path, key)) if key in current else value
        for key, value in old.items()
    }


def _setting_for_old(current: Any, old: Any, path: tuple[str, ...]) -> Any:
    if not (isinstance(current, dict) and isinstance(old, dict)):
        return current
    if path in name_keyed():
        return {
            name: _setting_for_old(value, old[name], ()) if name in old else value
            for name, value in current.items()
        }
    return params_for_old(current, old, path)


@functools.cache
def name_keyed() -> frozenset[tuple[str, ...]]:
    """Where this checkout's params hold a map keyed by name, as params.yaml spells the path
    (``("monitor", "psi_by_feature")``): the ``dict`` fields of ``mlapp.params.Params``. Its types,
    not the values: ``{tenure: 0.2}`` looks the same as a section of one setting."""
    from mlapp.params import Params  # here: monitor_scale's worker imports this module under an older src/

    return frozenset(_maps(Params, ()))


def _maps(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        where = (*path, field.alias or name)
        for kind in _kinds(field.annotation):
            if get_origin(kind) is dict:
                yield where
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _maps(kind, where)


def _kinds(annotation: Any) -> list[Any]:
    """The types an annotation allows: ``Annotated`` unwrapped, each member of a union."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        return [kind for member in get_args(annotation) for kind in _kinds(member)]
    return [annotation]


def result_head(script: str) -> dict[str, Any]:
    """When, at which commit (and whether the checkout had changes), on what machine (its load
    before; the caller adds ``load_after``) and by which command a result was measured."""
    from mlapp import proc  # here, not at the top: see worktree()

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": proc.output(["git", "rev-parse", "HEAD"], cwd=REPO),
        "uncommitted_changes": bool(proc.output(["git", "status", "--porcelain"], cwd=REPO)),
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
