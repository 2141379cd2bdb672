"""The committed dvc.lock must belong to the committed code, params and data.

A fresh clone that runs `make run` ends with a clean `git status` only if whoever changed
a stage's code or params also re-ran the pipeline and committed dvc.lock.
"""

import json
from pathlib import Path

import pytest

from mlapp import template
from tests.conftest import REPO, sh

pytestmark = pytest.mark.slow


def stale_entries(status: dict) -> dict[str, list]:
    """Changes other than "not produced yet" (outputs absent in a fresh clone)."""
    stale: dict[str, list] = {}
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):
                stale.setdefault(stage, []).append(change)  # e.g. "changed command"
                continue
            for kind, detail in change.items():
                if kind == "changed outs":
                    continue
                if kind == "changed deps" and all(v == "deleted" for v in detail.values()):
                    continue
                stale.setdefault(stage, []).append({kind: detail})
    return stale


def test_committed_pipeline_state_is_up_to_date(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    template.copy_tree(REPO, root)
    sh("git", "init", "-q", cwd=root)
    sh("dvc", "pull", "-q", "data.dvc", cwd=root)
    status = json.loads(sh("dvc", "status", "--json", cwd=root).stdout or "{}")
    stale = stale_entries(status)
    assert not stale, f"dvc.lock is stale: run `uv run dvc repro` and commit dvc.lock and metrics/: {stale}"


def test_every_dvc_remote_verifies_what_it_downloads() -> None:
    """Without `verify`, an object replaced in the remote is pulled as the one dvc.lock names (the
    model cd builds into the image, the data): whoever writes the bucket would change the model
    without a pull request. docs/team-mode.md, "DVC remote on S3"."""
    listed = sh("dvc", "config", "--project", "--list", cwd=REPO).stdout.split()
    settings = dict(line.split("=", 1) for line in listed)
    remotes = {key.split(".")[1] for key in settings if key.startswith("remote.")}
    assert remotes, settings
    unverified = sorted(r for r in remotes if settings.get(f"remote.{r}.verify") != "true")
    assert not unverified, f"set it: `uv run dvc remote modify {unverified[0]} verify true`"
