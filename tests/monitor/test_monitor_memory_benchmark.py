"""benchmarks/monitor_memory.py gives the old revision this checkout's params less only the
monitor settings that revision lacks: the default ``--old-ref main`` has them and requires them."""

from __future__ import annotations

import runpy

from tests.conftest import REPO


def test_the_old_revision_keeps_the_settings_it_knows(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    old_params = runpy.run_path(str(REPO / "benchmarks" / "monitor_memory.py"))["old_params"]
    current = {"task": "binary", "monitor": {"psi": 0.2, "chunk_rows": 50_000}}
    before = old_params(current, {"task": "binary", "monitor": {"psi": 0.2}})
    assert before == {"task": "binary", "monitor": {"psi": 0.2}}
    assert old_params(current, {"monitor": {"psi": 0.1, "chunk_rows": 1}}) == current
    assert current["monitor"]["chunk_rows"] == 50_000  # this checkout's params untouched
