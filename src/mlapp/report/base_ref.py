"""Which commit the PR is compared with, or a one-line error that says how to get it.

A base that cannot be found has three usual causes, each with its own remedy: a shallow clone
(CI's default ``fetch-depth: 1``) holds neither the base commit nor the history to a merge
base; a clone of a feature branch has the base only as ``origin/<name>``; or the name is wrong.
"""

from __future__ import annotations

from pathlib import Path

from mlapp import git
from mlapp.errors import UserError

UNSHALLOW = "this clone is shallow: `git fetch --unshallow`, or in CI actions/checkout's fetch-depth: 0"


def shallow(root: Path) -> bool:
    return git.answer("rev-parse", "--is-shallow-repository", cwd=root) == "true"


def missing(root: Path, base: str) -> str:
    """Why ``base`` names no commit here, and what to pass or fetch instead."""
    remote = f"origin/{base}"
    if git.rev(remote, cwd=root):
        hint = f"BASE={remote}?"
    elif shallow(root):
        hint = UNSHALLOW
    else:
        hint = "no branch, tag or commit of that name here: `git branch -a` lists the branches"
    return f"base ref {base!r} not found ({hint})"


def resolve(root: Path, base: str | None, default_base: str) -> tuple[str, str]:
    """(commit, how it was chosen): exactly ``base`` when given, else the merge base with the default."""
    if base:
        if (commit := git.rev(base, cwd=root)) is None:
            raise UserError(missing(root, base))
        return commit, base
    for ref in (default_base, default_base.split("/", 1)[-1]):
        if git.rev(ref, cwd=root):
            done = git.run("merge-base", "HEAD", ref, cwd=root, check=False)
            if done.returncode != 0:  # no common commit in the history this clone holds
                why = UNSHALLOW if shallow(root) else "unrelated histories: pass --base REF"
                raise UserError(f"HEAD and {ref} share no commit here ({why})")
            return done.stdout.strip(), f"merge base of HEAD and {ref}"
    also = f"; {UNSHALLOW}" if shallow(root) else ""
    raise UserError(f"no {default_base!r} to compare with: pass --base REF (make report BASE=REF){also}")
