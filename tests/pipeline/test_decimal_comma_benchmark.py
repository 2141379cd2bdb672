"""benchmarks/decimal_comma.py times both copies alternately, the order flipping each repeat, and
reports the ratio per repeat with its spread, not only the ratio of the two medians."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_copies_alternate_and_the_ratio_has_its_spread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    main = runpy.run_path(str(REPO / "benchmarks" / "decimal_comma.py"))["main"]
    assert main(["--rows", "300", "--repeats", "3", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "decimal_comma.json").read_text())
    per_repeat = result["comma_over_point_per_repeat"]
    assert per_repeat["orders"] == [["point", "comma"], ["comma", "point"], ["point", "comma"]]
    ratios = per_repeat["ratios"]
    assert len(ratios) == 3
    assert len(result["commit"]) == 40 and result["machine"]["load_after"]  # which code, what load
    spread = (per_repeat["median"], per_repeat["min"], per_repeat["max"])
    assert spread == (sorted(ratios)[1], min(ratios), max(ratios))
