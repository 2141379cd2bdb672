"""The batch scorer under an address-space limit (`ulimit -v`, ``RLIMIT_AS``, set in a child):
it scores, or ends in one line naming the limit, never spins.

Under `ulimit -v 500000` it spun at 100% CPU for 10 minutes: loading the model imports xgboost,
which loads scipy's OpenBLAS, which retries a buffer it cannot map for ever. A little more room
ended in a 57-line traceback (a library that could not be mapped) or an abort (pyarrow's thread
pools, which cannot start a thread there). The limit is set from what the child has mapped once
numpy, pandas and pyarrow are loaded, so the test means the same on every machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlapp.sample_data import generate

# /proc read here, not through mlapp: the same child runs against code without the check.
LIMITED = """
import resource, sys
from mlapp.serving import score
mapped = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:"))
room = int(sys.argv.pop(1)) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (mapped * 1024 + room, resource.RLIM_INFINITY))
from mlapp.errors import run_main
sys.argv[0] = "python -m mlapp.serving.score"
run_main("mlapp.serving.score")
"""
# The child starts in ~5 s and scores the rows in ~5; its spinning never ended.
HANG_S = 120

pytestmark = [
    pytest.mark.slow,  # a child importing pandas, pyarrow and xgboost: 5-15 s each
    pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)"),
]


def scored_under(room_mib: int, serving_root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    source, output = tmp_path / "batch.parquet", tmp_path / "scores.parquet"
    generate(2_000, 5).to_parquet(source)
    command = [sys.executable, "-c", LIMITED, str(room_mib), "--params", str(serving_root / "params.yaml"),
               "--input", str(source), "--output", str(output)]  # fmt: skip
    try:
        return subprocess.run(command, cwd=serving_root, capture_output=True, text=True, timeout=HANG_S)
    except subprocess.TimeoutExpired:  # run() killed it
        pytest.fail(f"still running after {HANG_S} s with {room_mib} MiB of address space left")


@pytest.mark.timeout(HANG_S + 60)
@pytest.mark.parametrize("room_mib", [64, 192])
def test_too_little_room_to_load_the_model_is_one_line_naming_the_limit(
    room_mib: int, serving_root: Path, tmp_path: Path
) -> None:
    done = scored_under(room_mib, serving_root, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: out of memory: loading the model needs about 256 MiB"), done.stderr
    assert "`ulimit -v`" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "scores.parquet").exists()


@pytest.mark.timeout(HANG_S + 60)
def test_room_enough_scores_every_row(serving_root: Path, tmp_path: Path) -> None:
    """The room refused below (256 MiB) is no over-estimate. With 384 MiB past the imports the
    threads from_pandas starts for a written chunk could not start (a traceback), and pyarrow's own
    pools aborted the process; read and written in one thread, 512 MiB (384 here once) scores."""
    done = scored_under(512, serving_root, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"scored": 2000' in done.stdout
