"""Every benchmark result says when, at which commit, on what machine and under what load it was
measured, in one shape: the scripts that write a result (those with ``--out``) write it through
benchmarks/revisions.py's ``write_result`` (its ``load_after``) with ``result_head`` (the rest)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"


def called(path: Path) -> set[str]:
    """The names a script calls (``f(...)``, ``module.f(...)``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def writers() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*.py") if '"--out"' in p.read_text())


def test_every_benchmark_that_writes_a_result_writes_its_head_through_revisions() -> None:
    assert len(writers()) > 20  # the scripts were found
    # objective_fits.write is robust_objective's and skewed_objective's: it calls both.
    own_head = {
        p.name: {"result_head", "write_result"} - called(p) for p in writers() if p.name != "revisions.py"
    }
    assert {name: missing for name, missing in own_head.items() if missing} == {}


def test_the_checkouts_commit_and_changes_are_read_by_result_head_alone() -> None:
    # A second record of them beside the head's "commit" (a "current" block) says the same twice,
    # and a reader could take either.
    asks = ('"rev-parse", "HEAD"', '"status", "--short"', '"status", "--porcelain"')
    own = {p.name for p in BENCHMARKS.glob("*.py") if any(ask in p.read_text() for ask in asks)}
    assert own == {"revisions.py"}
