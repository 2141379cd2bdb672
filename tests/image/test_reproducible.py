"""Same commit, same image: every timestamp a build writes is the source commit's time.

Measured (docs/image.md): two builds without layer cache of one commit give one image ID.
These tests hold the parts that make it so: the epoch from git, not now; the engine's flags;
a Dockerfile whose RUN steps see SOURCE_DATE_EPOCH and write hash-based bytecode; the bento's
build time replaced in bento.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.image import context
from mlapp.image.engine import EPOCH_ARG, Engine
from tests.conftest import sh
from tests.image.test_dockerfile import TEMPLATE, stages

COMMITTED = "2026-03-04T05:06:07+00:00"
EPOCH = 1772600767  # COMMITTED


def test_the_epoch_is_the_commits_time_not_now(tmp_path: Path) -> None:
    sh("git", "init", "-q", cwd=tmp_path)
    (tmp_path / "f").write_text("x")
    sh("git", "add", "f", cwd=tmp_path)
    dates = {"GIT_COMMITTER_DATE": COMMITTED, "GIT_AUTHOR_DATE": COMMITTED}
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x", cwd=tmp_path, env=dates)
    assert context.source_epoch(tmp_path) == EPOCH


def test_outside_git_there_is_no_epoch_to_build_with(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="git checkout"):
        context.source_epoch(tmp_path)


def test_the_bentos_build_time_becomes_the_commits(tmp_path: Path) -> None:
    bento_yaml = tmp_path / "bento.yaml"
    bento_yaml.write_text(
        "service: x\nname: mlapp\ncreation_time: '2026-12-05T12:37:58.535838+00:00'\nlabels: {}\n"
    )
    context.stamp_creation_time(bento_yaml, EPOCH)
    expected = f"service: x\nname: mlapp\ncreation_time: '{COMMITTED}'\nlabels: {{}}\n"
    assert bento_yaml.read_text() == expected


def test_a_bento_yaml_without_a_creation_time_is_an_error(tmp_path: Path) -> None:
    bento_yaml = tmp_path / "bento.yaml"
    bento_yaml.write_text("service: x\n")
    with pytest.raises(UserError, match="creation_time"):
        context.stamp_creation_time(bento_yaml, EPOCH)


def test_podman_stamps_the_epoch_on_the_image_and_its_files(tmp_path: Path) -> None:
    args = {"BASE_IMAGE": "b", EPOCH_ARG: str(EPOCH)}
    podman = [str(a) for a in Engine("podman").build_argv(tmp_path, "mlapp:1", args, {})]
    assert podman[podman.index("--timestamp") + 1] == str(EPOCH)
    assert f"{EPOCH_ARG}={EPOCH}" in podman  # the RUN steps see it too
    docker = [str(a) for a in Engine("docker").build_argv(tmp_path, "mlapp:1", args, {})]
    assert f"{EPOCH_ARG}={EPOCH}" in docker and "--timestamp" not in docker  # BuildKit reads the arg
    assert "--timestamp" not in Engine("podman").build_argv(tmp_path, "mlapp:1", {"BASE_IMAGE": "b"}, {})


def test_every_stage_hands_the_epoch_to_its_run_steps() -> None:
    for stage in stages(TEMPLATE):
        runs = [i for i, line in enumerate(stage) if line.startswith("RUN ")]
        declared = [i for i, line in enumerate(stage) if line == f"ARG {EPOCH_ARG}"]
        assert declared and runs and declared[0] < runs[0], stage[:3]


def test_bytecode_is_hash_based_never_stamped_with_a_source_mtime() -> None:
    text = " ".join(line for stage in stages(TEMPLATE) for line in stage)
    assert "--compile-bytecode" not in text  # uv's bytecode is timestamp-based
    compiles = re.findall(r"compileall[^;&]*", text)
    assert len(compiles) == 2 and all("--invalidation-mode unchecked-hash" in c for c in compiles), compiles
