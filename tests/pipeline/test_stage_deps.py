"""dvc.yaml lists, for every stage, exactly the project modules the stage's code imports.

A missing one is a stale model waiting to happen: edit the module, and `dvc status` still
says everything is up to date. The imports are derived, not listed by hand: each stage
module (with its engine variants, e.g. ``train_dask``) is imported in a fresh interpreter,
params are loaded (as every stage does first),
and the ``mlapp`` modules in ``sys.modules`` are the stage's code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_project, sh

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from mlapp.params import load_params
load_params("params.yaml")
print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "mlapp")))
"""


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def imported_files(modules: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    files = {str(Path(f).resolve().relative_to(REPO)) for f in json.loads(done.stdout)}
    return {f for f in files if not f.endswith("__init__.py")}  # package markers hold no code


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_depends_on_every_module_it_imports(name: str) -> None:
    stage = stages()[name]
    command = stage["cmd"].split()
    assert command[:3] == ["mlapp", "pipeline", name], f"stage {name} should run `mlapp pipeline {name}`"
    deps = {d for d in stage["deps"] if d.startswith("src/")}
    # The stage's module and its engine variants (train_dask), which it imports on demand.
    variants = sorted(p.stem for p in (REPO / "src" / "mlapp" / "stages").glob(f"{name}_*.py"))
    imported = imported_files([f"mlapp.stages.{name}", *(f"mlapp.stages.{v}" for v in variants)])
    assert f"src/mlapp/stages/{name}.py" in imported
    assert not imported - deps, f"dvc.yaml stage {name} lacks deps: {sorted(imported - deps)}"
    assert not deps - imported, (
        f"dvc.yaml stage {name} lists modules it does not import: {sorted(deps - imported)}"
    )


@pytest.mark.slow
def test_a_schema_edit_makes_validate_and_train_stale(trained_project: Path, tmp_path: Path) -> None:
    root = copy_project(trained_project, tmp_path / "p")
    schema = root / "src" / "mlapp" / "schema.py"
    schema.write_text(schema.read_text() + "\n# an edit\n")
    stale = json.loads(sh("dvc", "status", "--json", cwd=root).stdout)
    assert {"validate", "train"} <= set(stale), stale


def test_validate_imports_no_model_library() -> None:
    """validate reads tables only: XGBoost and MLflow would be about half a CPU-second and more
    of every validate process (every `dvc repro` and each test that runs the stage)."""
    probe = "import sys, mlapp.cli, mlapp.stages.validate; print({'xgboost', 'mlflow'} & sys.modules.keys())"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert done.stdout.strip() == "set()", done.stdout
