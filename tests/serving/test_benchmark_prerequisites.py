"""A benchmark run before its prerequisites are there says so in one line and exits 2, before
starting anything (a new user's first run: no traceback, no server left running): wrk for the
ones that load the service with it, the trained model (`make run`) for the ones that measure it."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlapp.serving import MODEL_DIR_ENV
from tests.conftest import REPO

WRK_ERROR = "error: wrk is not on PATH: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`."


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("script", ["probes.py", "serving.py"])
def test_a_missing_wrk_is_one_error_line(script: str, tmp_path: Path) -> None:
    done = _run(REPO / "benchmarks" / script, {**os.environ, "PATH": str(tmp_path)})  # no wrk on it
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [WRK_ERROR])


@pytest.mark.slow  # nine scripts each import the package in a process of their own: ~20 s of CPU
@pytest.mark.parametrize(
    "script",
    [
        "score.py",
        "probe_cost.py",
        "stop_resets.py",
        "serving_stack.py",
        "monitor_memory.py",
        "monitor_scale.py",
        "image.py",
        "smoke_cost.py",
        "drift_examples.py",
    ],
)
def test_a_missing_model_is_one_error_line(script: str, tmp_path: Path) -> None:
    project = tmp_path / "project"  # a checkout before `make run`: no models/
    shutil.copytree(REPO / "benchmarks", project / "benchmarks", ignore=shutil.ignore_patterns("results"))
    shutil.copy(REPO / "params.yaml", project / "params.yaml")
    env = {k: v for k, v in os.environ.items() if k != MODEL_DIR_ENV}
    done = _run(project / "benchmarks" / script, env)
    model = project / "models" / "model.ubj"
    expected = [f"error: model {model} not found: run the pipeline first (`make run`, or `uv run dvc repro`)"]
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, expected)
    assert sorted(p.name for p in project.iterdir()) == ["benchmarks", "params.yaml"]  # nothing written


def test_a_baseline_revision_is_extracted_into_a_new_folder(tmp_path: Path, monkeypatch) -> None:
    # probes.py --baseline REF extracts (revisions.extract) into a folder of its temporary one
    # that does not exist yet.
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    extract = runpy.run_path(str(REPO / "benchmarks" / "revisions.py"))["extract"]
    tree = extract("HEAD", tmp_path / "baseline")
    assert (tree / "params.yaml").is_file()
    assert (tree / "src" / "mlapp" / "serving" / "probes.py").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["probe_flood.py", "--baseline", "no-such-ref"],
        ["cli_latency.py", "--baseline", "no-such-ref", "--only", "help", "--repeats", "1"],
    ],
)
def test_a_baseline_revision_the_clone_lacks_is_one_error_line(argv: list[str], tmp_path: Path) -> None:
    # A reviewer's clone may lack the revision a docstring names (a short hash, a branch only the
    # remote has): one line naming it and how to fetch it, not git's CalledProcessError.
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / argv[0]), *argv[1:], "--out", str(tmp_path / "out.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = (
        f"error: git revision 'no-such-ref' is not in this clone ({REPO}): fetch it "
        "(`git fetch origin no-such-ref`; a branch: `git fetch origin no-such-ref:no-such-ref`) "
        "or name another one"
    )
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [expected])
    assert not (tmp_path / "out.json").exists()


def test_a_remote_branch_the_clone_lacks_is_fetched_by_its_name_on_the_remote() -> None:
    # origin/<typo> or a branch the clone has not fetched: `git fetch origin origin/x` fails
    # ("couldn't find remote ref"); `git fetch origin x` is what makes origin/x.
    revisions = runpy.run_path(str(REPO / "benchmarks" / "revisions.py"))
    expected = (
        f"error: git revision 'origin/no-such-ref' is not in this clone ({REPO}): fetch it "
        "(`git fetch origin no-such-ref`) or name another one"
    )
    assert revisions["ref_missing"]("origin/no-such-ref") == expected


@pytest.mark.skipif(
    shutil.which("podman") is None, reason="needs podman: the engine asked whether the image exists"
)
def test_an_image_that_is_not_there_is_one_error_line(tmp_path: Path) -> None:
    # body_burst.py --old/--new name images `make image` built; a wrong tag made podman try to pull
    # it from a registry at localhost and stop the run with a CommandError traceback.
    image = "localhost/mlapp:no-such-tag"
    argv = ["--old", image, "--new", image, "--engine", "podman", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "body_burst.py"), *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    hint = "`make image` in a checkout of that revision builds it (as mlapp:<model version>-<commit>)"
    assert (done.returncode, done.stderr.strip().splitlines()) == (
        2,
        [f"error: no image {image} (podman images): {hint}"],
    )
    assert list(tmp_path.iterdir()) == []


def test_no_container_engine_is_one_error_line(tmp_path: Path) -> None:
    # body_burst.py on a machine with neither docker nor podman: detect's UserError was a traceback.
    bin_dir = tmp_path / "bin"  # git only (the result's head reads the commit): no docker, no podman
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    argv = ["--old", "a", "--new", "b", "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "body_burst.py"), *argv],
        cwd=REPO,
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = (
        "error: no container engine: neither `docker info` answers nor podman is installed "
        "(Debian: apt-get install podman buildah runc fuse-overlayfs)"
    )
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [expected])
    assert not (tmp_path / "out").exists()
