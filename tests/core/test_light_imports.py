"""Commands that never read a booster do not import XGBoost (about 1.5 s of CPU with the
scikit-learn and SciPy it pulls in) in each `mlapp` process: tests run hundreds of them.

Each case imports what the command's body imports, after the CLI itself, in a fresh process.
validate's own guard is tests/pipeline/test_stage_deps.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

# command -> the modules its body imports (src/mlapp/cli/), none of which may import these
LIGHT = {
    "monitor metrics": ("mlapp.drift_metrics",),
    "monitor retrain-prepare, -publish, -pr": ("mlapp.monitor.retrain", "mlapp.monitor.refresh"),
    # they load the model to compare with, but only once the server is started (serving.local)
    "serving serve (--smoke), serving smoke": ("mlapp.serving", "mlapp.serving.local", "mlapp.serving.smoke"),
    "delivery deploy, status, wait, smoke": ("mlapp.delivery.commands", "mlapp.delivery.cluster"),
}


def imported(modules: tuple[str, ...], heavy: set[str]) -> set[str]:
    """Which of ``heavy`` a fresh interpreter holds after importing the CLI and ``modules``."""
    found = f"[name for name in {sorted(heavy)!r} if name in sys.modules]"
    probe = f"import json, sys, mlapp.cli, {', '.join(modules)}; print(json.dumps({found}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("command", sorted(LIGHT))
def test_commands_without_a_booster_import_no_xgboost(command: str) -> None:
    assert imported(LIGHT[command], {"xgboost", "sklearn"}) == set(), command
