"""GitOps state: what each environment runs, as commits on the deploy branch.

The deploy branch (params ``delivery.state_branch``) holds one folder per environment::

    <env>/manifests.yaml       every object, rendered by kustomize, the image pinned by digest
    <env>/kustomization.yaml   ``resources: [manifests.yaml]``: Argo CD, Flux and ``kubectl -k`` read it alike
    <env>/release.json         what runs: digest, model version, source commit, status, who

A controller syncs each folder (prune + self-heal); ``git log -- production/`` is the release
history. The branch is changed with plain git in a temporary worktree (never the user's
checkout): commit, then push (to the remote, or to this repository in local mode); a write
another writer beat (the tip moved meanwhile) is redone on the new tip, any other failure stops.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mlapp import git, proc
from mlapp.errors import UserError
from mlapp.params import DeliveryParams

RELEASE_FILE = "release.json"
PUSH_ATTEMPTS = 5  # deploy jobs of different environments share the branch
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's, in every repository (sha1)
BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
# registry/path[:tag]@sha256:...: environments run images by digest only (a tag can move). The
# name part is lower-case per the OCI distribution spec.
IMAGE_RE = re.compile(
    r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::[\w][\w.-]{0,127})?@(?P<digest>sha256:[0-9a-f]{64})"
)


class StateError(UserError, RuntimeError):
    """What delivery cannot do: a bad image reference, the deploy branch, the cluster."""


class EditedByHand(StateError):
    """An environment's folder changed after its release: nothing trusts it until rewritten."""


def image_ref(text: str) -> str:
    """``name[:tag]@sha256:...`` -> ``name@sha256:...``; anything without a digest is refused."""
    if not (match := IMAGE_RE.fullmatch(text.strip())):
        expected = "<registry>/<owner>/<name>@sha256:<64 hex>, all lower case (environments never run a tag)"
        raise StateError(f"{text!r} is not an image reference by digest: expected {expected}")
    return f"{match['name']}@{match['digest']}"


def check_digest(digest: str) -> str:
    if not DIGEST_RE.fullmatch(digest):
        raise StateError(f"{digest!r} is not a digest (sha256:<64 lower-case hex>)")
    return digest


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
    model_version: str | None  # first 12 hex of model_sha256, as the service reports it
    model_sha256: str | None  # the model's digest, booster and spec (mlapp.model.model_sha256)
    # The records the smoke test sends and this model's answers (mlapp.serving.smoke.case): a
    # promotion or rollback job checks the service against them, without the model.
    smoke: dict[str, list[dict[str, Any]]] | None = None
    registry_version: str | None = None  # MLflow model version, known once `accept` moved the alias
    promoted_from: str | None = None
    rolled_back_from: str | None = None  # the digest a rollback replaced
    deployed_by: str
    run_url: str | None

    @model_validator(mode="after")
    def _one_image(self) -> Release:  # promote matches `digest` and deploys `image`: they must agree
        if (match := IMAGE_RE.fullmatch(self.image)) is None or match["digest"] != self.digest:
            raise ValueError(f"image {self.image!r} is not pinned to the digest {self.digest!r}")
        return self


def who(environ: Mapping[str, str] | None = None) -> tuple[str, str | None, dict[str, str]]:
    """(actor, run URL, git identity): in CI the actor authors and the Actions bot commits;
    locally the user's git config does both."""
    env = os.environ if environ is None else environ
    actor = env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR")
    run_url = None
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if not actor:
        return getpass.getuser(), run_url, {}
    user_id = env.get("GITHUB_ACTOR_ID") if actor == env.get("GITHUB_ACTOR") else None
    email = f"{user_id + '+' if user_id else ''}{actor}@users.noreply.github.com"
    author = {"GIT_AUTHOR_NAME": actor, "GIT_AUTHOR_EMAIL": email}
    return actor, run_url, {**author, "GIT_COMMITTER_NAME": BOT[0], "GIT_COMMITTER_EMAIL": BOT[1]}


@dataclass
class Branch:
    """The deploy branch of the repository at ``root``; ``sync``: fetch first, push what it writes."""

    delivery: DeliveryParams
    root: Path = Path()
    sync: bool = False
    actor: str = field(init=False)
    run_url: str | None = field(init=False)
    who: dict[str, str] = field(init=False)  # the git identity of its commits

    def __post_init__(self) -> None:
        self.actor, self.run_url, self.who = who()
        if self.sync:
            self.fetch()

    @property
    def ref(self) -> str:
        name, remote = self.delivery.state_branch, self.delivery.remote
        return f"refs/remotes/{remote}/{name}" if self.sync else f"refs/heads/{name}"

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        return git.output(*args, cwd=self.root, env=env)

    def checkout(self, commit: str) -> AbstractContextManager[Path]:
        """A temporary checkout of ``commit``, fetched first when this (shallow) clone lacks it."""
        if git.rev(commit, cwd=self.root) is None:
            self.git("fetch", "-q", "--depth=1", self.delivery.remote, commit, env=self.auth())
        return git.worktree(self.root, commit)

    def auth(self) -> dict[str, str]:
        remote = self.delivery.remote
        if (url := git.remote_url(remote, cwd=self.root)) is None:
            raise StateError(f"git remote {remote!r} is not configured (params delivery.remote)")
        return git.auth_env(url)

    def fetch(self) -> str | None:
        """Bring the remote branch, or its absence (``--prune``), into the tracking ref; its tip."""
        remote, name = self.delivery.remote, self.delivery.state_branch
        pattern = f"+refs/heads/{name}*:refs/remotes/{remote}/{name}*"  # matching nothing is no error
        self.git("fetch", "-q", "--no-tags", "--prune", remote, pattern, env=self.auth())
        return self.tip()

    def tip(self) -> str | None:
        return git.rev(self.ref, cwd=self.root)

    def read(self, env: str, commit: str | None) -> Release | None:
        """``env``'s release at ``commit``; None when absent or invalid (a hand edit)."""
        text = git.show(commit, f"{env}/{RELEASE_FILE}", cwd=self.root) if commit else None
        try:
            return Release.model_validate_json(text) if text is not None else None
        except ValidationError:
            return None

    def history(self, env: str) -> list[tuple[str, Release]]:
        """(commit, release) for every change of ``env``, newest first (another's copied in is none)."""
        commits = self.git("log", "--format=%H", "--ignore-missing", self.ref, "--", f"{env}/{RELEASE_FILE}")
        return [(c, r) for c in commits.split() if (r := self.read(env, c)) and r.environment == env]

    def current(self, env: str, rewriting: bool = False) -> tuple[str, Release]:
        """``env``'s latest release; refused if its folder changed since (by hand) unless ``rewriting``."""
        history, tip = self.history(env), self.tip()
        since = history[0][0] if history else EMPTY_TREE  # no release: all a controller syncs is by hand
        if tip and (edited := self.git("diff", "--name-only", since, tip, "--", env)) and not rewriting:
            when = f"after its release {since[:12]}" if history else "and no deploy recorded a release"
            raise EditedByHand(f"{env} was edited by hand: {', '.join(edited.split())} changed {when}; "
                               "a deploy, promote or rollback rewrites it")  # fmt: skip
        if not history:
            raise StateError(f"{env} has never been deployed")
        return history[0]

    def write(self, env: str, change: Callable[[Path, str | None], str]) -> str:
        """Commit what ``change(tree, base)`` does to ``tree/env`` (it returns the message); push.

        ``change`` runs again on the new tip when a concurrent writer pushed first, so the
        result is always "this change on top of the latest state".
        """
        remote, name = self.delivery.remote, self.delivery.state_branch
        base = self.fetch() if self.sync else self.tip()
        for _attempt in range(PUSH_ATTEMPTS):
            with git.worktree(self.root, base) as tree:
                message = change(tree, base)
                git.run("add", "-A", "--", env, cwd=tree)
                # commit-tree: no hooks, an unchanged tree is still a commit, the first one has no parent
                snapshot, parent = git.output("write-tree", cwd=tree), ["-p", base] if base else []
                commit = git.output("commit-tree", snapshot, *parent, "-m", message, cwd=tree, env=self.who)
            where = remote if self.sync else "."  # ".": this repository, fast-forward only as a remote is
            push = ["push", "--no-verify", where, f"{commit}:refs/heads/{name}"]
            done = git.run(*push, cwd=self.root, env=self.auth() if self.sync else None, check=False)
            if done.returncode == 0:
                if self.sync:
                    self.git("update-ref", self.ref, commit)
                return commit
            # A push a hook refuses exits 1 as a lost race does: only a moved tip is a race to redo.
            if (tip := self.fetch() if self.sync else self.tip()) == base:
                raise proc.CommandError(done.args[:4], done.returncode, done.stderr)
            base = tip  # the next attempt's, fetched once
        raise StateError(f"{remote}/{name} kept moving: gave up after {PUSH_ATTEMPTS} attempts")
