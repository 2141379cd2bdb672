"""The benchmarks read params.yaml as mlapp and DVC do (benchmarks/params_files.py: YAML 1.2),
so the copies they write for the code under test hold the values the user's file means."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import yaml

from mlapp.params import load_params
from tests.conftest import REPO


def params_files() -> dict[str, Any]:
    return runpy.run_path(str(REPO / "benchmarks" / "params_files.py"))


def written_with(tmp_path: Path, max_rows: str) -> Path:
    text = (REPO / "params.yaml").read_text()
    changed = re.sub(r"(?m)^(  max_rows:) .*$", rf"\g<1> {max_rows}", text, count=1)
    assert changed != text
    (path := tmp_path / "params.yaml").write_text(changed)
    return path


def test_a_copy_of_this_checkouts_params_holds_the_values_mlapp_reads(tmp_path: Path) -> None:
    """0012 is 12 to YAML 1.2 (mlapp, DVC) and 10 to yaml.safe_load: a copy made through it served 10."""
    path = written_with(tmp_path, "0012")
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(params_files()["settings"](path)))
    assert load_params(copy) == load_params(path) and load_params(path).serving.max_rows == 12


def test_another_revisions_params_is_read_alike_and_can_be_written_back(tmp_path: Path) -> None:
    """Unchecked (an older file may lack settings or have others), its quoted text plain str."""
    text = written_with(tmp_path, "0012").read_text() + "retired_section:\n  kept: 'NA'\n"
    read = params_files()["as_written"](text, "old params.yaml")
    assert read["serving"]["max_rows"] == 12 and read["retired_section"] == {"kept": "NA"}
    assert yaml.safe_load(yaml.safe_dump(read))["data"]["csv_separator"] == ","
