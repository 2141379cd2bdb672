"""The git questions the PR report asks of the repository, through ``mlapp.proc``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlapp import proc


@dataclass(frozen=True)
class Git:
    root: Path

    def run(self, *args: str) -> str:
        """git's stdout; a failure raises ``proc.CommandError`` with git's stderr."""
        return proc.run(["git", *args], cwd=self.root).stdout

    def ok(self, *args: str) -> bool:
        return proc.run(["git", *args], cwd=self.root, check=False).returncode == 0

    def rev(self, ref: str) -> str | None:
        """The commit a ref points at, or None when there is no such commit."""
        done = proc.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=self.root, check=False
        )
        return (done.stdout.strip() or None) if done.returncode == 0 else None

    def show(self, commit: str, path: str) -> str | None:
        """A file's text at ``commit``, or None when it has no such file."""
        done = proc.run(["git", "show", f"{commit}:{path}"], cwd=self.root, check=False)
        return done.stdout if done.returncode == 0 else None
