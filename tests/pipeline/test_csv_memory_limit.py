"""A CSV read out of memory is said so, not called unreadable (`ulimit -v`, ``RLIMIT_AS`` set in a child).

pandas' C tokenizer words running out of memory as a ParserError ("Error tokenizing data. C error:
out of memory"), which validate, the batch scorer and the monitor take for the file's fault:
validate under `ulimit -v 290000` reported the sample table as failing "readable table" (exit 1,
a verdict on good data). ``read_csv`` raises it as the MemoryError it is, which the CLI says in
one line (exit 2). The limit is set from what the child has mapped once pandas is loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlapp.sample_data import generate

READING = """
import resource, sys
from mlapp.tables import read_csv
mapped = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (mapped * 1024 + 4 * 2**20, resource.RLIM_INFINITY))
try:
    rows = sum(len(chunk) for chunk in read_csv(sys.argv[1], [""], 50_000, ","))
except Exception as exc:
    print(type(exc).__name__, exc)
else:
    print("read", rows)
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_the_tokenizer_out_of_memory_is_a_memory_error(tmp_path: Path) -> None:
    source = tmp_path / "churn.csv"
    generate(100_000, 3).to_csv(source, index=False)  # 4 MiB past the imports: not one chunk of it
    command = [sys.executable, "-c", READING, str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("MemoryError Error tokenizing data. C error: out of memory"), done
