"""Git plumbing for the deploy branch: build commits without touching the working tree.

The state branch is written with a private index file (``GIT_INDEX_FILE``), ``commit-tree``
and a compare-and-swap ``update-ref``, so a deploy never checks anything out, never
disturbs uncommitted work, and two writers cannot silently overwrite each other.

Credentials: in GitHub Actions, checkout runs with ``persist-credentials: false`` and the
token arrives as ``GH_TOKEN``. It is handed to git as an HTTP header through
``GIT_CONFIG_*`` environment variables (never argv, never .git/config), like
actions/checkout does, and only for https://github.com remotes.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlapp.errors import UserError

ZERO_SHA = "0" * 40


class GitError(UserError, RuntimeError):
    """A git command failed; the message carries git's own stderr."""


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    sha: str
    path: str


def auth_env(remote_url: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Git config, as environment variables, that authenticates https://github.com with the token."""
    environ = os.environ if environ is None else environ
    token = environ.get("GH_TOKEN") or environ.get("GITHUB_TOKEN")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not token or not remote_url.startswith(f"{server}/"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


@dataclass
class Git:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def run_bytes(
        self, *args: str, input_: bytes | None = None, extra_env: Mapping[str, str] | None = None
    ) -> bytes:
        full_env = {**os.environ, **self.env, **(extra_env or {}), "GIT_TERMINAL_PROMPT": "0"}
        done = subprocess.run(
            ["git", *args], cwd=self.root, input=input_, capture_output=True, env=full_env, check=False
        )
        if done.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def run(self, *args: str, input_: bytes | None = None, extra_env: Mapping[str, str] | None = None) -> str:
        return self.run_bytes(*args, input_=input_, extra_env=extra_env).decode()

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except GitError:
            return False
        return True

    def rev(self, ref: str) -> str | None:
        """The commit a ref points at, or None when it does not exist."""
        try:
            return self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
        except GitError:
            return None

    def remote_url(self, remote: str) -> str | None:
        try:
            return self.run("remote", "get-url", remote).strip()
        except GitError:
            return None

    def ls_tree(self, treeish: str, prefix: str) -> list[TreeEntry]:
        out = self.run("ls-tree", "-r", "-z", treeish, "--", prefix)
        entries = []
        for item in filter(None, out.split("\0")):
            meta, path = item.split("\t", 1)
            mode, _kind, sha = meta.split()
            entries.append(TreeEntry(mode, sha, path))
        return entries

    def show(self, commit: str, path: str) -> str | None:
        try:
            return self.run("show", f"{commit}:{path}")
        except GitError:
            return None

    def write_blob(self, data: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", input_=data).strip()

    def log(self, ref: str, path: str) -> list[str]:
        """Commits on ``ref`` that touched ``path``, newest first."""
        return self.run("log", "--format=%H", ref, "--", path).split()


@contextmanager
def private_index(git: Git, base: str | None) -> Iterator[dict[str, str]]:
    """An index file of our own, loaded with ``base``'s tree (or empty for a first commit)."""
    with tempfile.TemporaryDirectory(prefix="mlapp-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git.run("read-tree", *([base] if base else ["--empty"]), extra_env=env)
        yield env


def commit_files(
    git: Git,
    base: str | None,
    replace_prefix: str,
    entries: list[TreeEntry],
    message: str,
    author: Mapping[str, str],
) -> str:
    """A commit on top of ``base`` whose ``replace_prefix`` folder holds exactly ``entries``."""
    with private_index(git, base) as env:
        git.run("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", replace_prefix, extra_env=env)
        if entries:
            info = "".join(f"{e.mode} {e.sha}\t{e.path}\0" for e in entries).encode()
            git.run("update-index", "--add", "-z", "--index-info", input_=info, extra_env=env)
        tree = git.run("write-tree", extra_env=env).strip()
    parents = ["-p", base] if base else []
    return git.run("commit-tree", tree, *parents, "-m", message, extra_env=dict(author)).strip()
