"""GitOps state: what each environment runs, as commits on the deploy branch.

The deploy branch (params ``delivery.state_branch``) is an orphan branch that only CI
writes. For every environment it holds a folder::

    <env>/release.json                    what runs: image digest, model, source commit, status
    <env>/infra/base/...                  the manifests, copied from the commit being deployed
    <env>/infra/overlays/<env>/kustomization.yaml   the env overlay with `images:` set to the digest

So ``kubectl apply -k <env>/infra/overlays/<env>`` on any commit of the branch reproduces
exactly what ran then, ``git log -- production/`` is the release history (author = who
deployed), and restoring an older ``production/`` folder is a rollback.

Life of a release: ``deploy``/``promote``/``rollback`` write ``status: deployed``; after the
smoke test passes, ``accept`` writes ``status: verified``. Only verified staging releases
can be promoted, and rollback goes back to the last verified production release.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

from mlapp.delivery.git import Git, GitError, TreeEntry, auth_env, commit_files
from mlapp.delivery.images import ImageRef
from mlapp.errors import UserError

RELEASE_FILE = "release.json"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PUSH_ATTEMPTS = 5  # staging and production jobs share the branch; a rejected push is retried
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
    config_commit: str  # the commit whose infra/ was copied
    model_version: str | None  # first 12 hex of the model file's sha256, as the service reports it
    model_sha256: str | None
    registry_version: str | None  # MLflow model version, known once `accept` moved the alias
    promoted_from: str | None
    rolled_back_from: str | None  # the digest that was replaced by a rollback
    deployed_by: str
    run_url: str | None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n"

    @property
    def ref(self) -> ImageRef:
        return ImageRef(self.image.split("@", 1)[0], self.digest)


@dataclass(frozen=True)
class Who:
    """Who is acting and from which run: commit author and the release record say it."""

    actor: str
    actor_email: str | None
    run_url: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Who:
        env = os.environ if environ is None else environ
        actor = env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR")
        run_url = None
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com")
            run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
            if env.get("GITHUB_RUN_ATTEMPT"):
                run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
        if actor:
            email = f"{actor}@users.noreply.github.com"
            if env.get("GITHUB_ACTOR_ID") and actor == env.get("GITHUB_ACTOR"):
                email = f"{env['GITHUB_ACTOR_ID']}+{actor}@users.noreply.github.com"
            return cls(actor, email, run_url)
        return cls(getpass.getuser(), None, run_url)

    def git_env(self) -> dict[str, str]:
        """In CI the actor is the author and the Actions bot the committer; locally, git config."""
        if self.actor_email is None:
            return {}
        return {
            "GIT_AUTHOR_NAME": self.actor,
            "GIT_AUTHOR_EMAIL": self.actor_email,
            "GIT_COMMITTER_NAME": BOT[0],
            "GIT_COMMITTER_EMAIL": BOT[1],
        }


def set_image(kustomization: str, placeholder: str, ref: ImageRef, header: str) -> str:
    """The overlay's kustomization with one ``images:`` entry pinning ``placeholder`` to the digest."""
    data = yaml.safe_load(kustomization) or {}
    images = [i for i in data.get("images") or [] if i.get("name") != placeholder]
    images.append({"name": placeholder, "newName": ref.name, "digest": ref.digest})
    data["images"] = images
    return header + yaml.safe_dump(data, sort_keys=False)


@dataclass
class StateStore:
    """Reads and writes the deploy branch; ``sync`` fetches before and pushes after."""

    git: Git
    branch: str
    remote: str
    sync: bool

    @property
    def local_ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def _auth(self) -> dict[str, str]:
        url = self.git.remote_url(self.remote)
        if url is None:
            raise StateError(f"git remote {self.remote!r} is not configured (params delivery.remote)")
        return auth_env(url)

    def fetch(self) -> None:
        auth = self._auth()
        refspec = f"+{self.local_ref}:{self.tracking_ref}"
        try:
            self.git.run("fetch", "--quiet", "--no-tags", self.remote, refspec, extra_env=auth)
        except GitError as exc:
            if "couldn't find remote ref" not in str(exc):
                raise
            # First deploy ever: the branch does not exist yet; forget a stale tracking ref.
            if self.git.rev(self.tracking_ref):
                self.git.run("update-ref", "-d", self.tracking_ref)

    def tip(self) -> str | None:
        return self.git.rev(self.tracking_ref if self.sync else self.local_ref)

    def read(self, env: str, commit: str | None = None) -> Release | None:
        commit = commit or self.tip()
        if commit is None:
            return None
        text = self.git.show(commit, f"{env}/{RELEASE_FILE}")
        return Release.model_validate_json(text) if text else None

    def history(self, env: str) -> list[tuple[str, Release]]:
        """(commit, release) for every change of ``env``, newest first."""
        tip = self.tip()
        if tip is None:
            return []
        out = []
        for commit in self.git.log(tip, f"{env}/{RELEASE_FILE}"):
            release = self.read(env, commit)
            if release is not None:
                out.append((commit, release))
        return out

    def write(self, env: str, build: Callable[[str | None], tuple[list[TreeEntry], str]], who: Who) -> str:
        """Commit ``build(base)``'s files as the new ``env/`` folder; push when syncing.

        ``build`` is called again on a fresh base when a concurrent writer got there first,
        so the result is always "this change on top of the latest state".
        """
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            if self.sync:
                self.fetch()
            base = self.tip()
            entries, message = build(base)
            commit = commit_files(self.git, base, f"{env}/", entries, message, who.git_env())
            if not self.sync:
                self.git.run("update-ref", self.local_ref, commit, base or "0" * 40)
                return commit
            try:
                self.git.run(
                    "push",
                    "--quiet",
                    "--no-verify",
                    self.remote,
                    f"{commit}:{self.local_ref}",
                    extra_env=self._auth(),
                )
            except GitError as exc:
                rejected = any(s in str(exc) for s in ("rejected", "fetch first", "non-fast-forward"))
                if rejected and attempt < PUSH_ATTEMPTS:
                    continue
                raise
            self.git.run("update-ref", self.tracking_ref, commit)
            return commit
        raise StateError("unreachable")  # pragma: no cover

    def export(self, commit: str, env: str, dest: Path) -> Path:
        """Write ``env/`` of ``commit`` to ``dest``; returns the overlay folder to apply."""
        data = self.git.run_bytes("archive", "--format=tar", commit, f"{env}/")
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():  # extractall(filter=) needs Python 3.11.4+
                target = (dest / member.name).resolve()
                if not target.is_relative_to(dest.resolve()) or not (member.isfile() or member.isdir()):
                    raise StateError(f"{commit[:12]}: {member.name!r} is not a file or folder in {env}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member) if member.isfile() else None
                if source is None:
                    target.mkdir(exist_ok=True)
                else:
                    target.write_bytes(source.read())
        release = self.read(env, commit)
        if release is None:
            raise StateError(f"{commit[:12]} has no {env}/{RELEASE_FILE}")
        return dest / env


def message(action: str, release: Release, extra: str = "") -> str:
    model = f" (model {release.model_version})" if release.model_version else ""
    lines = [
        f"{action} {release.environment}: {release.image}{model}",
        "",
        *([extra, ""] if extra else []),
        f"Source-Commit: {release.source_commit}",
        f"Config-Commit: {release.config_commit}",
        f"Deployed-By: {release.deployed_by}",
    ]
    if release.run_url:
        lines.append(f"Run: {release.run_url}")
    return "\n".join(lines) + "\n"


def snapshot(
    git: Git,
    config_commit: str,
    infra_dir: str,
    env: str,
    placeholder: str,
    ref: ImageRef,
    release: Release,
) -> list[TreeEntry]:
    """``infra/`` of ``config_commit`` (other environments' overlays left out), digest set."""
    infra_dir = infra_dir.strip("/")
    overlays = f"{infra_dir}/overlays/"
    entries = git.ls_tree(config_commit, f"{infra_dir}/")
    own = f"{overlays}{env}/"
    kept = [e for e in entries if not e.path.startswith(overlays) or e.path.startswith(own)]
    kustomizations = [e for e in kept if e.path in {f"{own}{n}" for n in KUSTOMIZATION_NAMES}]
    if not kustomizations:
        raise StateError(
            f"no {own}kustomization.yaml at commit {config_commit[:12]}: "
            f"environment {env!r} needs an overlay (see infra/README.md)"
        )
    target = kustomizations[0]
    header = (
        f"# Written by `mlapp {release.action}` from {target.path} at {config_commit[:12]}:\n"
        f"# the environment runs exactly this digest. Do not edit; redeploy instead.\n"
    )
    text = set_image(git.run("cat-file", "blob", target.sha), placeholder, ref, header)
    out = [TreeEntry(e.mode, e.sha, f"{env}/{e.path}") for e in kept if e != target]
    out.append(TreeEntry("100644", git.write_blob(text.encode()), f"{env}/{target.path}"))
    out.append(TreeEntry("100644", git.write_blob(release.to_json().encode()), f"{env}/{RELEASE_FILE}"))
    return out


def with_release(git: Git, entries: list[TreeEntry], env: str, release: Release) -> list[TreeEntry]:
    """The same files with ``release.json`` replaced."""
    out = [e for e in entries if e.path != f"{env}/{RELEASE_FILE}"]
    out.append(TreeEntry("100644", git.write_blob(release.to_json().encode()), f"{env}/{RELEASE_FILE}"))
    return out


def overlay_path(infra_dir: str, env: str) -> str:
    """Where the applyable overlay sits inside an exported ``env/`` folder."""
    return f"{infra_dir.strip('/')}/overlays/{env}"


def verified(history: list[tuple[str, Release]]) -> list[tuple[str, Release]]:
    return [(c, r) for c, r in history if r.status == "verified"]


def check_env(env: str, environments: list[str]) -> str:
    if env not in environments:
        raise StateError(f"unknown environment {env!r}: params delivery.environments is {environments}")
    return env
