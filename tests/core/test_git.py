"""mlapp.git: the one git runner (never prompts unless asked; None-returning questions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlapp import git, proc
from tests.conftest import sh


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "repo"
    sh("git", "init", "-q", "-b", "main", root, cwd=tmp_path)
    (root / "a.txt").write_text("first\n")
    sh("git", "add", "a.txt", cwd=root)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one", cwd=root)
    return root, sh("git", "rev-parse", "HEAD", cwd=root).stdout.strip()


def test_questions_answer_none_instead_of_failing(repo: tuple[Path, str]) -> None:
    root, head = repo
    assert git.rev("main", cwd=root) == head
    assert git.rev("no-such-branch", cwd=root) is None
    assert git.show(head, "a.txt", cwd=root) == "first\n"
    assert git.show(head, "missing.txt", cwd=root) is None
    assert git.remote_url("origin", cwd=root) is None
    sh("git", "remote", "add", "origin", "https://example.com/o/r.git", cwd=root)
    assert git.remote_url("origin", cwd=root) == "https://example.com/o/r.git"
    assert git.ok("diff", "--quiet", cwd=root)
    (root / "a.txt").write_text("changed\n")
    assert not git.ok("diff", "--quiet", cwd=root)


def test_output_must_succeed_and_answer_tolerates_anything(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, head = repo
    assert git.output("rev-parse", "HEAD", cwd=root) == head
    with pytest.raises(proc.CommandError, match="rev-parse"):
        git.output("rev-parse", "--verify", "no-such-ref", cwd=root)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert git.answer("rev-parse", "HEAD", cwd=outside) is None
    assert git.answer("rev-parse", "HEAD", cwd=root, timeout=10) == head


def test_answer_is_none_without_git(
    repo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = repo
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # as in a bento: no git at all
    assert git.answer("rev-parse", "HEAD", cwd=root) is None
    with pytest.raises(proc.CommandNotFound):
        git.rev("HEAD", cwd=root)


def test_never_prompts_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in git that reports the variable git reads before asking on the terminal.
    (tmp_path / "git").write_text('#!/bin/sh\necho "${GIT_TERMINAL_PROMPT-unset}"\n')
    (tmp_path / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.delenv("GIT_TERMINAL_PROMPT", raising=False)
    assert git.output("fetch") == "0"
    assert git.output("fetch", env={"GIT_TERMINAL_PROMPT": "1"}) == "0"
    assert git.output("push", prompt=True) == "unset"
