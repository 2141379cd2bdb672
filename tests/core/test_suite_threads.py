"""The suite's OpenMP threads sleep while they wait (tests/__init__.py says why)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import sh


def test_openmp_threads_wait_passively_here_and_in_the_commands_tests_run(tmp_path: Path) -> None:
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert sh("sh", "-c", 'echo "$OMP_WAIT_POLICY"', cwd=tmp_path).stdout.strip() == "PASSIVE"
