"""benchmarks/body_burst.py measures what it says: its bodies are valid requests of the size it
names, and it reads the container's memory from either cgroup version's files."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from mlapp.schema import FEATURES
from mlapp.serving.records import record_type
from mlapp.serving.request import input_type
from mlapp.serving.settings import body_cap
from tests.conftest import REPO
from tests.serving.conftest import PARAMS

BURST = runpy.run_path(str(REPO / "benchmarks" / "body_burst.py"))


@pytest.mark.parametrize("shape", ["cap", "compact"])
def test_the_burst_bodies_are_valid_requests_of_their_size(shape: str) -> None:
    cap = body_cap(PARAMS.serving).limit
    big, small = BURST["bodies"](cap, shape)
    valid = TypeAdapter(input_type(record_type(FEATURES), PARAMS.serving.max_rows))
    assert len(valid.validate_json(big)["records"]) == 1000
    assert len(valid.validate_json(small)["records"]) == 1
    if shape == "cap":
        assert len(big) == cap - 1  # the most bytes a request may hold
    else:
        assert b" " not in big and len(big) < cap / 2


def _cgroup(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # cgroup v2
            {
                "memory.current": "300\n",
                "memory.peak": "900\n",
                "memory.events": "low 0\noom 1\noom_kill 2\n",
            },
            {"now": 300, "peak": 900, "oom_kills": 2},
        ),
        (  # cgroup v1
            {
                "memory.usage_in_bytes": "200\n",
                "memory.max_usage_in_bytes": "800\n",
                "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            },
            {"now": 200, "peak": 800, "oom_kills": 1},
        ),
    ],
)
def test_memory_is_read_from_either_cgroup_version(
    tmp_path: Path, files: dict[str, str], expected: dict[str, Any]
) -> None:
    assert BURST["memory"](_cgroup(tmp_path / "cg", files)) == expected
