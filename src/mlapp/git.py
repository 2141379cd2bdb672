"""The one way this package asks git something, through ``mlapp.proc``.

git never prompts for credentials here (``GIT_TERMINAL_PROMPT=0``; a credential helper still
answers): a CI job or a server start-up waiting on a terminal would hang until its timeout.
A caller a person runs by hand against a remote may opt in with ``prompt=True``. Failures are
``proc.CommandError`` with git's stderr; the helpers that return ``None`` decide from the exit
code, never from git's wording.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mlapp import proc

Result = subprocess.CompletedProcess[str]
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


def run(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    prompt: bool = False,
) -> Result:
    """``git *args``; ``check=False``: the caller decides from ``returncode``."""
    merged = {**(env or {}), **({} if prompt else NO_PROMPT)}
    return proc.run(["git", *args], cwd=cwd, env=merged, check=check, timeout=timeout)


def output(
    *args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None, prompt: bool = False
) -> str:
    """The stripped stdout of a git command that must succeed."""
    return run(*args, cwd=cwd, env=env, prompt=prompt).stdout.strip()


def ok(*args: str | Path, cwd: Path | None = None) -> bool:
    """Whether the command exits 0 (``diff --quiet``: no changes; cleanups that may fail)."""
    return run(*args, cwd=cwd, check=False).returncode == 0


def answer(*args: str | Path, cwd: Path | None = None, timeout: float | None = None) -> str | None:
    """The stripped stdout, or None when there is no answer: git failed, is not installed (e.g.
    in a bento) or ran out of ``timeout``. For facts that are informative, never required."""
    try:
        done = run(*args, cwd=cwd, check=False, timeout=timeout)
    except proc.CommandError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def rev(ref: str, cwd: Path | None = None) -> str | None:
    """The commit ``ref`` points at, or None when there is no such commit."""
    done = run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd, check=False)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def show(commit: str, path: str, cwd: Path | None = None) -> str | None:
    """A file's text at ``commit``, or None when the commit has no such file."""
    done = run("show", f"{commit}:{path}", cwd=cwd, check=False)
    return done.stdout if done.returncode == 0 else None


@contextmanager
def worktree(root: Path, commit: str | None) -> Iterator[Path]:
    """A detached checkout of ``commit`` in a temporary folder, removed afterwards (a removal that
    fails is pruned, never raised over the block's own outcome); for None, nothing is checked out
    and the index is empty: a first commit starts from nothing."""
    with tempfile.TemporaryDirectory(prefix="mlapp-worktree-", ignore_cleanup_errors=True) as tmp:
        path, empty = Path(tmp) / "tree", [] if commit else ["--no-checkout"]
        run("worktree", "add", "--quiet", "--detach", *empty, path, commit or "HEAD", cwd=root)
        try:
            yield path
        finally:
            ok("worktree", "remove", "--force", path, cwd=root)
            ok("worktree", "prune", cwd=root)


def remote_url(remote: str, cwd: Path | None = None) -> str | None:
    """The URL of the git remote ``remote``, or None when it is not configured."""
    done = run("remote", "get-url", remote, cwd=cwd, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def remote_repo(url: str) -> tuple[str, str] | None:
    """(host, OWNER/NAME) of an ssh or https git URL; None for anything else (a local path)."""
    match = re.fullmatch(
        r"(?:git@|ssh://git@|https://(?:[^@/]+@)?)([\w.-]+)[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?", url
    )
    return (match[1], match[2]) if match else None


def auth_env(url: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``GH_TOKEN`` as git's HTTP header for ``url`` on GitHub, through ``GIT_CONFIG_*``: never
    in argv or ``.git/config``, so a job's checkout keeps no credentials (``persist-credentials:
    false``) and only the step that pushes holds the token. ``{}`` for any other remote."""
    env = os.environ if environ is None else environ
    token = env.get("GH_TOKEN") or env.get("GITHUB_TOKEN")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not token or not url.startswith(f"{server}/"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    key, value = f"http.{server}/.extraheader", f"AUTHORIZATION: basic {basic}"
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": value}
