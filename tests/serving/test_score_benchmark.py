"""benchmarks/score.py reports each scoring run's own peak memory: not the largest child's so far
(RUSAGE_CHILDREN), nor the benchmark process's own, which a child it starts directly inherits as
its starting peak on Linux (the test process here is far above 60 MB)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from tests.conftest import REPO

BIG = "b = bytearray(b'x') * (120 * 2**20); print('big')"  # 120 MB, every page written


def test_each_child_reports_its_own_peak_rss(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    run_child = runpy.run_path(str(REPO / "benchmarks" / "score.py"))["run_child"]
    out, _, big = run_child([sys.executable, "-c", BIG], tmp_path)
    _, _, small = run_child([sys.executable, "-c", "pass"], tmp_path)
    assert out.strip() == "big"
    assert big > 120
    assert small < 60
