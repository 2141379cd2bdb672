"""The benchmarks that load the service with wrk say so in one line when it is missing, before
starting any server (a new user's first run: no traceback, nothing left running)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("script", ["probes.py", "serving.py"])
def test_a_missing_wrk_is_one_error_line(script: str, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no wrk on it
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--out", str(tmp_path / "out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: wrk is not on PATH: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`."
    ]
    assert not (tmp_path / "out").exists()
