"""MLflow's telemetry is off for `mlapp` (so DVC's stages) and `make`, as DVC's and BentoML's are,
unless the user set MLFLOW_DISABLE_TELEMETRY: checked with MLflow's own decision."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# The `mlapp` entry point, then what MLflow decides when imported after it (in a clean process: this
# one has imported MLflow already, and MLflow skips telemetry under pytest or CI by itself).
AFTER_MLAPP = """
import os, sys
from mlapp.cli import main
sys.argv = ["mlapp", "--help"]
try:
    main()
except SystemExit:
    pass
print("env", os.environ.get("MLFLOW_DISABLE_TELEMETRY"))
if os.environ.get("MLFLOW_DISABLE_TELEMETRY") == "true":  # else MLflow would start its client
    from mlflow.telemetry import get_telemetry_client
    from mlflow.telemetry.utils import is_telemetry_disabled
    print("disabled", is_telemetry_disabled(), get_telemetry_client() is None)
"""


def clean_env(**extra: str) -> dict[str, str]:
    """No CI or pytest variable (MLflow reads those too) and no telemetry setting of the caller's."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_mlapp_turns_mlflow_telemetry_off() -> None:
    done = subprocess.run(
        [sys.executable, "-c", AFTER_MLAPP], env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["env true", "disabled True True"], done.stdout


def test_mlapp_keeps_the_users_own_setting() -> None:
    env = clean_env(MLFLOW_DISABLE_TELEMETRY="false")
    done = subprocess.run([sys.executable, "-c", AFTER_MLAPP], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "env false"


@pytest.mark.parametrize(("given", "seen"), [({}, "true"), ({"MLFLOW_DISABLE_TELEMETRY": "false"}, "false")])
def test_every_make_recipe_gets_it_unless_set(given: dict[str, str], seen: str) -> None:
    show = ["make", "--no-print-directory", "--eval", "show-telemetry: ; @echo $$MLFLOW_DISABLE_TELEMETRY"]
    done = subprocess.run(
        [*show, "show-telemetry"], cwd=REPO, env=clean_env(**given), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == seen
