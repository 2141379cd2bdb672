"""validate run on a table it must refuse: nothing written, the report's problems returned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlapp.files import read_json
from mlapp.params import Params
from mlapp.stages import validate


def problems(params: Params, tmp_path: Path, source: Path) -> list[dict[str, Any]]:
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(params, source=source, output=out, report=report) == 1
    assert not out.exists()
    return read_json(report)["problems"]
