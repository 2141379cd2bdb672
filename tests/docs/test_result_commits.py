"""Every committed benchmark result names code the history holds: the commit each records
(result_head's ``commit``; older shapes a ``commit`` per round or system, probe_flood's
``revision``) is an ancestor of HEAD, so it can be checked out and re-run. A result run on a
branch that was rebased before landing names a commit main never had."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import REPO

RESULTS = REPO / "benchmarks" / "results"
# Run on branches rebased before they landed and not re-run from main since (on a shared machine
# their floods measured its load, not the code): the figures docs/serving.md quotes stand until a
# quiet machine re-runs them with the arguments each records. The test fails once one is re-run,
# until it leaves this list.
NOT_YET_RERUN = frozenset(
    {
        "probes.json",
        "probes-one-cpu.json",
        "probes-keepalive.json",
        "probes-backlog.json",
        "probes-backlog-wave600.json",
    }
)
NAMES = frozenset({"commit", "revision"})  # the keys under which a result names the code it ran


def recorded(result: Any) -> set[str]:
    """The commits a result names: the first word of each ``commit`` or ``revision`` value, at any
    depth (``"bd640b1 (not on main: ...)"`` names bd640b1)."""
    if isinstance(result, list):
        return {commit for item in result for commit in recorded(item)}
    if not isinstance(result, dict):
        return set()
    named = {v.split()[0] for k, v in result.items() if k in NAMES and isinstance(v, str) and v.strip()}
    return named | {commit for v in result.values() for commit in recorded(v)}


def git(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def history() -> None:
    shallow = git("rev-parse", "--is-shallow-repository")
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("no full git history here (a shallow CI clone, or no .git): nothing to check against")


def test_the_commits_a_result_names_are_found_at_any_depth() -> None:
    result = {
        "commit": "bd640b1 (not on main: the same src/)",
        "rounds": [{"commit": "c7eeb15"}, {"commit": "c29dffe", "load": 1.0}],
        "baseline": {"ref": "main", "commit": "7f5bc61b522616867d8924c34d95237ebd399968"},
        "revision": "d460c77",
        "images": {"old": "5915f6d767f7"},  # an image id, not a commit
    }
    assert recorded(result) == {
        "bd640b1",
        "c7eeb15",
        "c29dffe",
        "7f5bc61b522616867d8924c34d95237ebd399968",
        "d460c77",
    }


def test_every_result_names_commits_of_this_history(history: None) -> None:
    paths = sorted(RESULTS.glob("*.json"))
    named = {path.name: recorded(json.loads(path.read_text())) for path in paths}
    assert sum(bool(commits) for commits in named.values()) > 20  # the results' commits were found
    elsewhere = {
        name: sorted(c for c in commits if git("merge-base", "--is-ancestor", c, "HEAD").returncode != 0)
        for name, commits in named.items()
    }
    assert {name for name, commits in elsewhere.items() if commits} == NOT_YET_RERUN
