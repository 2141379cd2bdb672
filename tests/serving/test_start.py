"""`mlapp serving serve` with a model it cannot serve (none, a stale one, a corrupt file): one
`error:` line and exit 2, not workers failing and being replaced for ever, or a wait.
test_start_host.py: what the host lacks (a free port, writable state folders)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.serving.conftest import serve_until_exit as serve


def test_no_model_is_one_error_line(serving_root: Path, tmp_path: Path) -> None:
    done = serve(serving_root, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: model {tmp_path / 'model.ubj'} not found: run the pipeline first" in done.stderr
    assert "Traceback" not in done.stderr
    assert not done.stderr.startswith("serving "), done.stderr  # it said so before the error


def test_a_model_the_schema_no_longer_matches_is_one_error_line(serving_root: Path, tmp_path: Path) -> None:
    models = shutil.copytree(serving_root / "models", tmp_path / "models")
    spec = json.loads((models / "model_spec.json").read_text())
    spec["features"] = [*spec["features"][1:], spec["features"][0]]  # as if the schema was reordered
    (models / "model_spec.json").write_text(json.dumps(spec))
    done = serve(serving_root, models)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: the model was trained on features" in done.stderr and "Traceback" not in done.stderr


CORRUPTIONS = {  # file -> what a broken deploy or an interrupted copy leaves there
    "model.ubj": lambda data: data[: len(data) // 2],  # truncated
    "model_spec.json": lambda data: data[:15],  # truncated JSON
}


@pytest.mark.parametrize(("name", "garbage"), [(n, False) for n in CORRUPTIONS] + [("model.ubj", True)])
def test_a_corrupt_model_file_is_one_error_line_naming_it(
    serving_root: Path, tmp_path: Path, name: str, garbage: bool
) -> None:
    """XGBoost's C++ backtrace (or a JSON traceback) before: now the file, and how to restore it."""
    models = shutil.copytree(serving_root / "models", tmp_path / "models")
    broken = models / name
    broken.write_bytes(b"\x00not a model" * 50 if garbage else CORRUPTIONS[name](broken.read_bytes()))
    done = serve(serving_root, models)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: cannot read {broken} (" in done.stderr
    restore = "truncated or corrupt; restore it (`uv run dvc checkout`, `uv run dvc pull`) or retrain"
    assert restore in done.stderr
    assert "Traceback" not in done.stderr and "[bt]" not in done.stderr
