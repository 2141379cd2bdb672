"""The model's bytes depend on the table and params.yaml alone, not on the machine's environment.

Measured with `dvc repro` on fresh clones (sample data, every output's md5 in dvc.lock equal):
another PYTHONHASHSEED, TZ=Pacific/Kiritimati, LC_ALL=C, OMP_NUM_THREADS=1, one CPU (taskset),
umask 077 and a deeper clone path left every byte as it was. The tests beside this one train twice
in one process, where none of these differ: here a second process trains with all of them changed
at once (a set's order, a local-time date or a path in the model would show), on small tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlapp import model as model_io
from mlapp.params import load_params
from mlapp.stages import train
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

# Nothing here reads them: each is what another machine, CI runner or shell may have set.
HOSTILE_ENV = {
    "PYTHONHASHSEED": "4242",  # str and set order: pytest's own process hashes with a random seed
    "TZ": "Pacific/Kiritimati",  # UTC+14: a date written in local time would be another day
    "LC_ALL": "C",
    "LANG": "C",
    "OMP_NUM_THREADS": "1",  # train.xgboost.n_jobs is what sets XGBoost's threads
}


def _params_file(task: str, folder: Path) -> Path:
    """params.yaml of ``task`` with fewer, shallower trees (the bytes, not the model, are tested)."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    switched = params_for(load_params(REPO / "params.yaml"), task)
    raw["task"] = task
    raw["gate"]["primary_metric"] = switched.gate.primary_metric
    raw["monitor"]["decay_tolerance"] = switched.monitor.decay_tolerance
    raw["tune"]["metric"] = switched.tune.metric
    raw["train"]["xgboost"].update({"n_estimators": 40, "max_depth": 3})
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder / "params.yaml"


def _restricted() -> None:
    """In the child before it runs: a private umask and (where the OS has affinity) one CPU."""
    os.umask(0o077)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_another_environment_trains_the_same_bytes(task: str, tmp_path: Path) -> None:
    source = tmp_path / "train.parquet"
    table(task, 800).to_parquet(source, index=False)
    here = _params_file(task, tmp_path / "here")
    train.run(load_params(here), source=source, model_dir=tmp_path / "here" / "models")

    # Another working directory, deeper, reached by another path: a clone elsewhere.
    there = _params_file(task, tmp_path / "a" / "b" / "c" / "clone")
    argv = [sys.executable, "-m", "mlapp", "--params", str(there), "pipeline", "train"]
    argv += ["--input", str(source), "--model-dir", "models"]
    done = subprocess.run(
        argv,
        cwd=there.parent,
        env={**os.environ, **HOSTILE_ENV},
        preexec_fn=_restricted,  # the test process runs no other threads
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in model_io.MODEL_FILES:
        mine, theirs = (tmp_path / "here" / "models" / name), (there.parent / "models" / name)
        assert theirs.read_bytes() == mine.read_bytes(), f"{name} differs under {HOSTILE_ENV}"
