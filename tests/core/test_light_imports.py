"""Commands that never read a booster do not import XGBoost (about 1.5 s of CPU with the
scikit-learn and SciPy it pulls in), nor ones that read no table pandas (about half a second,
with NumPy and pyarrow), in each `mlapp` process: tests run hundreds of them.

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
# command -> the modules its body imports; none reads a table (params.yaml's checks neither)
TABLELESS = {
    "mlapp --help (and the start of every command)": (),
    "report gate, report comment": ("mlapp.report.gate", "mlapp.report.github"),
    "serving serve (before bentoml takes over the process)": ("mlapp.serving",),
    "delivery (but smoke)": (
        "mlapp.delivery.commands",
        "mlapp.delivery.cluster",
        "mlapp.delivery.github",
        "mlapp.workflows",
    ),
    "template init": ("mlapp.template",),
    # they read monitor.json, git and gh; retrain-prepare's data refresh reads tables
    "monitor metrics, retrain-publish, retrain-pr": ("mlapp.drift_metrics", "mlapp.monitor.retrain"),
}


def imported(modules: tuple[str, ...], heavy: set[str]) -> set[str]:
    """Which of ``heavy`` a fresh interpreter holds after importing the CLI and ``modules``."""
    found = f"[name for name in {sorted(heavy)!r} if name in sys.modules]"
    probe = f"import {', '.join(('json', 'sys', 'mlapp.cli', *modules))}; print(json.dumps({found}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("command", sorted(LIGHT))
def test_commands_without_a_booster_import_no_xgboost(command: str) -> None:
    assert imported(LIGHT[command], {"xgboost", "sklearn"}) == set(), command


@pytest.mark.parametrize("command", sorted(TABLELESS))
def test_commands_without_a_table_import_no_pandas(command: str) -> None:
    assert imported(TABLELESS[command], {"pandas", "numpy", "pyarrow"}) == set(), command
