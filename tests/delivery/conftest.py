"""A project clone with an "origin" bare remote: the deploy branch bookkeeping runs for real."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO, sh

from mlapp.params import load_params

# params' environments, whatever a team calls them ("staging" and "production" in the template):
# the tests deploy to the first and promote into the last.
ENVIRONMENTS = load_params(REPO / "params.yaml").delivery.environments
FIRST, LAST = ENVIRONMENTS[0], ENVIRONMENTS[-1]
IDENTITY = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}
GITHUB_VARS = (
    "GITHUB_ACTOR",
    "GITHUB_ACTOR_ID",
    "GITHUB_TRIGGERING_ACTOR",
    "GITHUB_RUN_ID",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_ACTIONS",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "KUBE_CONFIG",
    "SERVICE_URL",
)


def digest(char: str) -> str:
    return "sha256:" + char * 64


def image(char: str) -> str:
    return f"ghcr.io/acme/churn@{digest(char)}"


@pytest.fixture
def gitops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Working clone (cwd) of a repo holding infra/ + params.yaml, pushed to a bare ``origin``."""
    for name in GITHUB_VARS:
        monkeypatch.delenv(name, raising=False)
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    remote = tmp_path / "origin.git"
    work = tmp_path / "work"
    sh("git", "init", "-q", "--bare", remote, cwd=tmp_path)
    sh("git", "init", "-q", "-b", "main", work, cwd=tmp_path)
    shutil.copytree(REPO / "infra", work / "infra")
    # The release-cycle tests walk params' first environment into its last; a project that added
    # environments between them (infra/README.md, "Adding an environment") keeps their overlays.
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["delivery"]["environments"] = [FIRST, LAST]
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    sh("git", "add", "-A", cwd=work)
    sh("git", "commit", "-qm", "init", cwd=work)
    sh("git", "remote", "add", "origin", remote, cwd=work)
    sh("git", "push", "-q", "origin", "main", cwd=work)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def mlapp() -> Callable[..., tuple[int, str]]:
    """Run ``mlapp`` in-process (cwd = the test project); returns (exit code, output)."""
    from click.testing import CliRunner

    from mlapp.cli import cli

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += f"\n{type(result.exception).__name__}: {result.exception}"
        return result.exit_code, output

    return run


def remote_log(work: Path, path: str = "") -> list[str]:
    args = ["git", "--git-dir", str(work.parent / "origin.git"), "log", "--format=%an|%cn|%s", "deploy"]
    return sh(*args, *(["--", path] if path else []), cwd=work).stdout.splitlines()


def bin_dir(tmp_path: Path, name: str, script: str) -> Path:
    """A fake executable first on PATH (gh, kubectl), for calls that would need the network."""
    folder = tmp_path / "fakebin"
    folder.mkdir(exist_ok=True)
    exe = folder / name
    exe.write_text(script)
    exe.chmod(0o755)
    return folder


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture
def mlapp_in_repo(mlapp, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """``mlapp`` run from the repository itself, for read-only commands (checks, dry runs)."""
    monkeypatch.chdir(REPO)
    return mlapp
