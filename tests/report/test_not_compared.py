"""When there is nothing to compare with, the report still says why (it becomes the PR comment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.report import run
from tests.conftest import REPO, sh


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
    assert "\n    base ref 'nope' not found (in CI, check out full history: fetch-depth: 0)\n" in text
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
        run.resolve_base(tmp_path, "main", "origin/main")
