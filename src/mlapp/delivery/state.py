"""GitOps state: what each environment runs, as commits on the deploy branch.

The deploy branch (params ``delivery.state_branch``) holds one folder per environment::

    <env>/manifests.yaml       every object, rendered by kustomize, the image pinned by digest
    <env>/kustomization.yaml   ``resources: [manifests.yaml]``: Argo CD, Flux and ``kubectl -k`` read it alike
    <env>/release.json         what runs: digest, model version, source commit, status, who

A controller syncs each folder (prune + self-heal); ``git log -- production/`` is the release
history. The branch is changed with plain git in a temporary worktree (never the user's
checkout): commit, then push; a push rejected because another job got there first (exit 1)
is redone on top of the new tip, any other failure stops.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlapp import proc
from mlapp.delivery.git import git, worktree
from mlapp.delivery.images import ImageRef
from mlapp.errors import UserError

RELEASE_FILE = "release.json"
MANIFESTS_FILE = "manifests.yaml"
KUSTOMIZATION = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [manifests.yaml]\n"
)
PUSH_ATTEMPTS = 5  # deploy jobs of different environments share the branch
PUSH_REJECTED = 1  # git push: a ref was refused (not a fast-forward); transport/auth errors are 128
NO_SUCH_REF = 2  # git ls-remote --exit-code: the branch does not exist yet
BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


class StateError(UserError, RuntimeError):
    pass


class Release(BaseModel):
    """The content of ``<env>/release.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str
    image: str  # name@sha256:...
    digest: str
    action: Literal["deploy", "promote", "rollback"]
    status: Literal["deployed", "verified"]
    source_commit: str  # the commit the image was built from
    config_commit: str  # the commit whose infra/ was rendered
    model_version: str | None  # first 12 hex of the model file's sha256, as the service reports it
    model_sha256: str | None
    registry_version: str | None  # MLflow model version, known once `accept` moved the alias
    promoted_from: str | None
    rolled_back_from: str | None  # the digest a rollback replaced
    deployed_by: str
    run_url: str | None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n"

    @property
    def ref(self) -> ImageRef:
        return ImageRef(self.image.split("@", 1)[0], self.digest)


@dataclass(frozen=True)
class Who:
    """Who acts, from which run: the commit author and the release record say it."""

    actor: str
    email: str | None
    run_url: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Who:
        env = os.environ if environ is None else environ
        actor = env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR")
        run_url = None
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com")
            run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        if not actor:
            return cls(getpass.getuser(), None, run_url)
        user_id = env.get("GITHUB_ACTOR_ID") if actor == env.get("GITHUB_ACTOR") else None
        return cls(actor, f"{user_id + '+' if user_id else ''}{actor}@users.noreply.github.com", run_url)

    def git_env(self) -> dict[str, str]:
        """In CI the actor is the author and the Actions bot the committer; locally, git config."""
        if self.email is None:
            return {}
        return {"GIT_AUTHOR_NAME": self.actor, "GIT_AUTHOR_EMAIL": self.email,
                "GIT_COMMITTER_NAME": BOT[0], "GIT_COMMITTER_EMAIL": BOT[1]}  # fmt: skip


def auth_env(remote_url: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job token as an HTTP header, through ``GIT_CONFIG_*`` (never argv or .git/config)."""
    env = os.environ if environ is None else environ
    token = env.get("GH_TOKEN") or env.get("GITHUB_TOKEN")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not token or not remote_url.startswith(f"{server}/"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}  # fmt: skip


@dataclass
class Branch:
    """The deploy branch of the repository at ``root``; ``sync`` fetches before and pushes after."""

    root: Path
    name: str
    remote: str
    sync: bool

    @property
    def ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.name}" if self.sync else f"refs/heads/{self.name}"

    def auth(self) -> dict[str, str]:
        url = proc.run(["git", "remote", "get-url", self.remote], cwd=self.root, check=False)
        if url.returncode != 0:
            raise StateError(f"git remote {self.remote!r} is not configured (params delivery.remote)")
        return auth_env(url.stdout.strip())

    def fetch(self) -> str | None:
        """Bring the remote branch (or its absence) into the tracking ref; return its tip."""
        auth = self.auth()
        heads = ["git", "ls-remote", "--exit-code", "--heads", self.remote, self.name]
        listed = proc.run(heads, cwd=self.root, env=auth, check=False)
        if listed.returncode == NO_SUCH_REF:
            if self.tip():
                git("update-ref", "-d", self.ref, cwd=self.root)
            return None
        if listed.returncode != 0:
            raise proc.CommandError(heads, listed.returncode, listed.stderr)
        refspec = f"+refs/heads/{self.name}:{self.ref}"
        git("fetch", "-q", "--no-tags", self.remote, refspec, cwd=self.root, env=auth)
        return self.tip()

    def tip(self) -> str | None:
        found = proc.run(
            ["git", "rev-parse", "--verify", "-q", f"{self.ref}^{{commit}}"], cwd=self.root, check=False
        )
        return found.stdout.strip() if found.returncode == 0 else None

    def read(self, env: str, commit: str | None = None) -> Release | None:
        commit = commit or self.tip()
        if commit is None or not git("ls-tree", commit, "--", f"{env}/{RELEASE_FILE}", cwd=self.root):
            return None
        return Release.model_validate_json(git("show", f"{commit}:{env}/{RELEASE_FILE}", cwd=self.root))

    def history(self, env: str) -> list[tuple[str, Release]]:
        """(commit, release) for every change of ``env``, newest first."""
        tip = self.tip()
        commits = git("log", "--format=%H", tip, "--", f"{env}/{RELEASE_FILE}", cwd=self.root) if tip else ""
        return [(c, r) for c in commits.split() if (r := self.read(env, c)) is not None]

    def write(self, env: str, change: Callable[[Path, str | None], str], who: Who) -> str:
        """Commit what ``change(tree, base)`` does to ``tree/env`` (it returns the message); push.

        ``change`` runs again on the new tip when a concurrent writer pushed first, so the
        result is always "this change on top of the latest state".
        """
        for _attempt in range(PUSH_ATTEMPTS):
            base = self.fetch() if self.sync else self.tip()
            with worktree(self.root, base) as tree:
                message = change(tree, base)
                git("add", "-A", "--", env, cwd=tree)
                git(
                    "commit", "-q", "--no-verify", "--allow-empty", "-m", message, cwd=tree, env=who.git_env()
                )
                commit = git("rev-parse", "HEAD", cwd=tree)
            if not self.sync:  # compare-and-swap: fails if the branch moved meanwhile
                git("update-ref", self.ref, commit, base or "0" * 40, cwd=self.root)
                return commit
            push = ["git", "push", "--quiet", "--no-verify", self.remote, f"{commit}:refs/heads/{self.name}"]
            pushed = proc.run(
                push, cwd=self.root, env={**self.auth(), "GIT_TERMINAL_PROMPT": "0"}, check=False
            )
            if pushed.returncode == 0:
                git("update-ref", self.ref, commit, cwd=self.root)
                return commit
            if pushed.returncode != PUSH_REJECTED:
                raise proc.CommandError(push, pushed.returncode, pushed.stderr)
        raise StateError(f"{self.remote}/{self.name} kept moving: gave up after {PUSH_ATTEMPTS} attempts")


def write_folder(folder: Path, manifests: str, release: Release) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFESTS_FILE).write_text(manifests)
    (folder / "kustomization.yaml").write_text(KUSTOMIZATION)
    (folder / RELEASE_FILE).write_text(release.to_json())


def message(action: str, release: Release, extra: str = "") -> str:
    model = f" (model {release.model_version})" if release.model_version else ""
    run = [f"Run: {release.run_url}"] if release.run_url else []
    lines = [f"{action} {release.environment}: {release.image}{model}", "", *([extra, ""] if extra else []),
             f"Source-Commit: {release.source_commit}", f"Config-Commit: {release.config_commit}",
             f"Deployed-By: {release.deployed_by}", *run]  # fmt: skip
    return "\n".join(lines) + "\n"


def verified(history: list[tuple[str, Release]]) -> list[tuple[str, Release]]:
    return [(c, r) for c, r in history if r.status == "verified"]
