"""The server refuses to start in a container whose memory limit is below what it admits
(pod_memory.py): a pod of 256 MiB with 4 workers started, and a flood of request bodies would have
its workers OOM-killed. The cgroup is a folder written here, read as the container reads its own."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from mlapp.serving import settings
from mlapp.serving.pod_memory import IDLE_BYTES, memory_limit, memory_problem
from tests.conftest import REPO

MIB = 2**20


@pytest.fixture
def loaded(tmp_path: Path) -> settings.Settings:
    """The settings of the repository's params.yaml (serving.* as shipped)."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    return settings.load(environ={}, root=tmp_path)


def cgroup(folder: Path, memory_max: str, v1: bool = False) -> Path:
    path = folder / "memory" / "memory.limit_in_bytes" if v1 else folder / "memory.max"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(memory_max + "\n")
    return folder


LIMITS = [
    ("268435456", False, 256 * MIB),
    ("max", False, None),
    ("1073741824", True, 1024 * MIB),
    ("9223372036854771712", True, None),  # how cgroup v1 says "no limit"
]


@pytest.mark.parametrize(("text", "v1", "limit"), LIMITS)
def test_the_limit_is_read_as_the_container_sees_it(
    tmp_path: Path, text: str, v1: bool, limit: int | None
) -> None:
    assert memory_limit(cgroup(tmp_path, text, v1)) == limit


def test_no_cgroup_file_is_no_limit(tmp_path: Path) -> None:
    assert memory_limit(tmp_path) is None  # a host's root cgroup has no memory.max


def test_256_mib_and_4_workers_is_refused_naming_the_numbers_and_the_settings(
    loaded: settings.Settings, tmp_path: Path
) -> None:
    four = dataclasses.replace(loaded, workers=4)
    problem = memory_problem(four, cgroup(tmp_path, str(256 * MIB)))
    assert problem is not None
    assert problem.startswith(f"the container's memory limit (256 MiB, read from {tmp_path}) is below")
    # ceil(256 / 4) = 64 slots of 1,000 rows x 17 features x 80 bytes; bodies: the 64 MiB budget,
    # or 64 bodies at the cap (1,000 rows x 1,024 bytes) if less, x 1.5
    assert "~200 MiB idle + 4 workers x (83 MiB of rows + 94 MiB of bodies) = 907 MiB" in problem
    # The pod's own fix needs no new image; the params' fixes do (workers auto: the CPU limit).
    assert "raise the limit to 907 MiB or more (the pod's resources.limits.memory)" in problem
    assert "lower serving.workers (auto: the CPU limit rounded up)" in problem
    assert (
        "serving.max_body_bytes_in_flight or serving.max_concurrency in params.yaml and build a new image"
        in problem
    )


def test_infra_bases_limit_holds_its_two_workers(loaded: settings.Settings, tmp_path: Path) -> None:
    """infra/base: 1 GiB, 2 workers (724 MiB admitted); no limit at all is never refused."""
    two = dataclasses.replace(loaded, workers=2)
    assert memory_problem(two, cgroup(tmp_path / "base", str(1024 * MIB))) is None
    assert memory_problem(two, cgroup(tmp_path / "tight", str(723 * MIB))) is not None
    assert memory_problem(two, cgroup(tmp_path / "none", "max")) is None


def test_the_numbers_are_params_yamls(loaded: settings.Settings, tmp_path: Path) -> None:
    """The same 256 MiB pod with 4 workers starts once serving.max_concurrency and
    serving.max_body_bytes_in_flight admit no more than it holds (1 request a worker, 1 body)."""
    text = (REPO / "params.yaml").read_text()
    budget = f"max_body_bytes_in_flight: {loaded.body_cap.limit}"
    for old, new in (
        ("max_concurrency: 256", "max_concurrency: 4"),
        ("max_body_bytes_in_flight: 67108864", budget),
    ):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "params.yaml").write_text(text)
    small = dataclasses.replace(settings.load(environ={}, root=tmp_path / "small"), workers=4)
    assert memory_problem(small, cgroup(tmp_path, str(256 * MIB))) is None
    assert memory_problem(small, cgroup(tmp_path, str(IDLE_BYTES))) is not None
