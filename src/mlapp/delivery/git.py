"""Plain git, through mlapp.proc: the helpers the deploy branch uses.

No plumbing: commits are made in a temporary worktree with ``git add`` / ``git commit``, and
callers decide from exit codes (``git_ok``, ``CommandError.returncode``), never from messages.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlapp import proc


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    return proc.output(["git", *args], cwd=cwd, env={**(env or {}), "GIT_TERMINAL_PROMPT": "0"})


def git_ok(*args: str, cwd: Path) -> bool:
    return proc.run(["git", *args], cwd=cwd, check=False).returncode == 0


@contextmanager
def worktree(root: Path, commit: str | None) -> Iterator[Path]:
    """A temporary checkout of ``commit`` (an empty orphan one for None), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mlapp-worktree-") as tmp:
        path = Path(tmp) / "tree"
        orphan = f"mlapp-orphan-{os.getpid()}-{Path(tmp).name[-8:]}"
        git("worktree", "add", "--quiet", "--detach", str(path), *([commit] if commit else []), cwd=root)
        try:
            if commit is None:  # the branch's first commit has no parent
                git("checkout", "--quiet", "--orphan", orphan, cwd=path)
                git("rm", "-r", "-q", "-f", "--ignore-unmatch", ".", cwd=path)
            yield path
        finally:
            git("worktree", "remove", "--force", str(path), cwd=root)
            if commit is None and git_ok("rev-parse", "--verify", "-q", f"refs/heads/{orphan}", cwd=root):
                git("branch", "-q", "-D", orphan, cwd=root)
