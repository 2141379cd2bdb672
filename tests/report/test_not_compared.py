"""When there is nothing to compare with, the report still says why (it becomes the PR comment)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.report import base_ref, run
from mlapp.report.champion import ChampionError, obtain
from tests.conftest import REPO, sh
from tests.report.helpers import GIT_ID, commit_all


def test_no_comparison_writes_why_and_the_prs_own_metrics(tmp_path: Path, monkeypatch) -> None:
    """A base that cannot be used (here: a ref that does not exist) is still an error (exit 2),
    but report.md says why and lists the PR model's metrics; a report.json and plots of an
    earlier run are removed, so the gate step cannot read a stale verdict."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "metrics.json").write_text(
        json.dumps({"roc_auc": 0.81234, "per_class": {"a": 1}})
    )
    out = tmp_path / "reports" / "pr"
    out.mkdir(parents=True)
    (out / "report.json").write_text("{}")  # an earlier run's
    (out / "roc.png").write_bytes(b"png")  # an earlier run's plot: not this PR's
    shutil.copy(REPO / "reports" / "pr" / ".gitignore", out)  # committed: keeps the reports out of git
    sh("git", "init", "-q", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    with pytest.raises(UserError, match="base ref 'nope' not found"):
        run.main(Path("params.yaml"), base="nope", out_dir=out, enforce_gate=True, summary=summary)
    text = (out / "report.md").read_text()
    assert text.startswith("## ⚪ No comparison with the base\n")
    assert (
        "\n    base ref 'nope' not found (no branch, tag or commit of that name here: "
        "`git branch -a` lists the branches)\n" in text
    )
    assert "| `roc_auc` | 0.8123 |" in text and "| `per_class.a` | 1 |" in text
    # The folder's committed .gitignore stays: deleted, `git add -A` committed the report.
    assert sorted(p.name for p in out.iterdir()) == [".gitignore", "report.md"]
    assert summary.read_text() == text


def test_a_base_only_on_the_remote_is_named(tmp_path: Path) -> None:
    """A clone of a feature branch has ``origin/main`` but no ``main``: the error names the one to pass."""
    sh("git", "init", "-q", "-b", "feature", cwd=tmp_path)
    sh("git", "commit", "-q", "--allow-empty", "-m", "one", cwd=tmp_path)
    sh("git", "update-ref", "refs/remotes/origin/main", "HEAD", cwd=tmp_path)
    with pytest.raises(UserError, match=r"^base ref 'main' not found \(BASE=origin/main\?\)$"):
        base_ref.resolve(tmp_path, "main", "origin/main")


def _shallow_clone_of_a_pr(tmp_path: Path, *clone_args: str) -> tuple[Path, str]:
    """A repository with main two commits deep and a PR branch on it, cloned at depth 1 (CI's
    default checkout): returns the clone and the base commit it lacks."""
    origin = tmp_path / "origin"
    origin.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=origin)
    for message in ("one", "two"):
        sh("git", *GIT_ID, "commit", "-q", "--allow-empty", "-m", message, cwd=origin)
    old = sh("git", "rev-parse", "HEAD~1", cwd=origin).stdout.strip()
    sh("git", "checkout", "-q", "-b", "pr", cwd=origin)
    sh("git", *GIT_ID, "commit", "-q", "--allow-empty", "-m", "pr", cwd=origin)
    clone = tmp_path / "clone"
    sh(
        "git",
        "clone",
        "-q",
        "--depth",
        "1",
        *clone_args,
        "--branch",
        "pr",
        f"file://{origin}",
        clone,
        cwd=tmp_path,
    )
    return clone, old


def test_a_shallow_clone_is_told_to_fetch_history_not_to_pass_another_base(tmp_path: Path) -> None:
    """A depth-1 clone lacks the base commit: "check out full history" was said for any missing
    ref (a typo too), and a merge base outside the clone's history stopped the report with
    "`git merge-base HEAD origin/main` failed (exit 1)"."""
    clone, old = _shallow_clone_of_a_pr(tmp_path, "--no-single-branch")
    unshallow = re.escape(f"({base_ref.UNSHALLOW})")
    with pytest.raises(UserError, match=rf"^HEAD and origin/main share no commit here {unshallow}$"):
        base_ref.resolve(clone, None, "origin/main")
    with pytest.raises(UserError, match=rf"^base ref '{old}' not found {unshallow}$"):
        base_ref.resolve(clone, old, "origin/main")
    only_pr, _ = _shallow_clone_of_a_pr(tmp_path / "single")  # actions/checkout: one ref, depth 1
    with pytest.raises(
        UserError, match=rf"^no 'origin/main' to compare with: .*; {re.escape(base_ref.UNSHALLOW)}$"
    ):
        base_ref.resolve(only_pr, None, "origin/main")


def test_a_base_of_unrelated_history_is_named(tmp_path: Path) -> None:
    sh("git", "init", "-q", "-b", "main", cwd=tmp_path)
    sh("git", *GIT_ID, "commit", "-q", "--allow-empty", "-m", "one", cwd=tmp_path)
    sh("git", "checkout", "-q", "--orphan", "other", cwd=tmp_path)
    sh("git", *GIT_ID, "commit", "-q", "--allow-empty", "-m", "other", cwd=tmp_path)
    with pytest.raises(
        UserError, match=r"^HEAD and main share no commit here \(unrelated histories: pass --base REF\)$"
    ):
        base_ref.resolve(tmp_path, None, "origin/main")


def test_a_base_without_dvc_lock_names_it(tmp_path: Path) -> None:
    """A first PR: the base has params.yaml but never ran the pipeline. The error named both files
    ("no dvc.lock/params.yaml"), leaving the reader to find which was missing."""
    sh("git", "init", "-q", "-b", "main", cwd=tmp_path)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    base = commit_all(tmp_path, "params only")
    with pytest.raises(
        ChampionError, match=rf"^the base {base[:12]} has no dvc.lock: no model to compare with$"
    ):
        obtain(tmp_path, base)


def test_a_base_whose_params_yaml_writes_a_key_twice_names_it(tmp_path: Path) -> None:
    """PyYAML kept the last value silently; DVC's reader refuses the file, so no champion rebuilds:
    said as such, and before any worktree's `dvc repro` is tried on it."""
    sh("git", "init", "-q", "-b", "main", cwd=tmp_path)
    shutil.copy(REPO / "dvc.lock", tmp_path / "dvc.lock")
    text = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("\ntask: ", "\ntask: regression\ntask: ", 1))
    base = commit_all(tmp_path, "task twice")
    line = (tmp_path / "params.yaml").read_text().splitlines().index("task: regression") + 1
    twice = f"the base {base[:12]}'s params.yaml: task is written twice, on line {line} "
    with pytest.raises(ChampionError, match=rf"^no model to compare with: {twice}"):
        obtain(tmp_path, base)
