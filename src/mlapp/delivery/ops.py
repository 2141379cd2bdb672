"""deploy / promote / rollback / accept: the release bookkeeping, one function each.

Each function computes the new ``<env>/`` folder of the deploy branch and commits it
(see mlapp.delivery.state). Applying the result to a cluster is a separate call
(``apply``), so everything up to ``kubectl apply`` runs and is tested without a cluster.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlapp.delivery import kube
from mlapp.delivery.git import Git, TreeEntry
from mlapp.delivery.images import ImageRef, check_digest
from mlapp.delivery.state import (
    Release,
    StateError,
    StateStore,
    Who,
    check_env,
    message,
    overlay_path,
    snapshot,
    verified,
    with_release,
)
from mlapp.params import DeliveryParams


@dataclass
class Context:
    delivery: DeliveryParams
    repo: Git  # the project checkout: manifests come from its HEAD
    store: StateStore
    who: Who

    @classmethod
    def open(cls, delivery: DeliveryParams, root: Path, sync: bool) -> Context:
        repo = Git(root)
        return cls(
            delivery, repo, StateStore(repo, delivery.state_branch, delivery.remote, sync), Who.from_env()
        )

    def head(self) -> str:
        head = self.repo.rev("HEAD")
        if head is None:
            raise StateError("the project has no commit yet: manifests are deployed from a commit")
        return head

    def env(self, name: str) -> str:
        return check_env(name, self.delivery.environments)


def model_identity(model_dir: Path | None) -> tuple[str | None, str | None]:
    """(version, sha256) of a local model, as the service reports it; (None, None) if absent."""
    from mlapp.model import MODEL_FILE, file_sha256  # lazy: xgboost costs ~1.5 s to import

    if model_dir is None or not (model_dir / MODEL_FILE).is_file():
        return None, None
    sha = file_sha256(model_dir / MODEL_FILE)
    return sha[:12], sha


def _release(ctx: Context, env: str, ref: ImageRef, **fields: str | None) -> Release:
    values: dict[str, str | None] = {
        "environment": env,
        "image": str(ref),
        "digest": ref.digest,
        "status": "deployed",
        "config_commit": ctx.head(),
        "registry_version": None,
        "promoted_from": None,
        "rolled_back_from": None,
        "deployed_by": ctx.who.actor,
        "run_url": ctx.who.run_url,
    }
    values.update(fields)
    return Release.model_validate(values)


def deploy(
    ctx: Context, env: str, ref: ImageRef, source_commit: str | None, model_dir: Path | None
) -> tuple[str, Release]:
    """Record that ``env`` runs ``ref``, with the manifests of the current commit."""
    env = ctx.env(env)
    version, sha = model_identity(model_dir)
    release = _release(
        ctx,
        env,
        ref,
        action="deploy",
        source_commit=source_commit or os.environ.get("GITHUB_SHA") or ctx.head(),
        model_version=version,
        model_sha256=sha,
    )
    return _write_snapshot(ctx, env, ref, release, "deploy"), release


def _write_snapshot(ctx: Context, env: str, ref: ImageRef, release: Release, verb: str) -> str:
    def build(_base: str | None) -> tuple[list[TreeEntry], str]:
        entries = snapshot(
            ctx.repo, release.config_commit, str(ctx.delivery.infra_dir), env, ctx.delivery.app, ref, release
        )
        return entries, message(verb, release)

    return ctx.store.write(env, build, ctx.who)


def promotable(ctx: Context, source_env: str, digest: str | None) -> Release:
    """The release of ``source_env`` to promote: its latest verified one, or ``digest`` if verified."""
    passed = verified(ctx.store.history(source_env))
    if not passed:
        raise StateError(f"{source_env} has no verified release yet: nothing passed its smoke test")
    if digest is None:
        return passed[0][1]
    check_digest(digest)
    for _commit, release in passed:
        if release.digest == digest:
            return release
    raise StateError(f"{digest} never passed {source_env}: only digests verified there can be promoted")


def promote(ctx: Context, target: str, source: str | None, digest: str | None) -> tuple[str, Release]:
    """Deploy to ``target`` the exact image that passed ``source`` (default: the previous env)."""
    target = ctx.env(target)
    order = ctx.delivery.environments
    if source is None:
        index = order.index(target)
        if index == 0:
            raise StateError(f"{target} is the first environment: deploy to it, nothing promotes into it")
        source = order[index - 1]
    source = ctx.env(source)
    if source == target:
        raise StateError("promotion needs two different environments")
    passed = promotable(ctx, source, digest)
    release = _release(
        ctx,
        target,
        passed.ref,
        action="promote",
        source_commit=passed.source_commit,
        model_version=passed.model_version,
        model_sha256=passed.model_sha256,
        promoted_from=source,
    )
    return _write_snapshot(ctx, target, passed.ref, release, "promote"), release


def rollback_target(ctx: Context, env: str, digest: str | None) -> tuple[str, Release]:
    """(commit, release) to go back to: the newest verified one running another digest."""
    history = ctx.store.history(ctx.env(env))
    if not history:
        raise StateError(f"{env} has never been deployed: nothing to roll back")
    current = history[0][1]
    candidates = [(c, r) for c, r in verified(history) if r.digest != current.digest]
    if digest is not None:
        check_digest(digest)
        candidates = [(c, r) for c, r in candidates if r.digest == digest]
    if not candidates:
        wanted = f"verified release with {digest}" if digest else "earlier verified release"
        raise StateError(f"{env} has no {wanted} other than the current {current.digest}")
    return candidates[0]


def rollback(ctx: Context, env: str, digest: str | None) -> tuple[str, Release]:
    """Restore ``env``'s folder from its previous verified release (or the one with ``digest``).

    Restoring the whole folder brings back the manifests that ran with that image, not just
    the image, so a rollback also undoes a bad manifest change.
    """
    env = ctx.env(env)
    current = current_release(ctx, env)[1]
    commit, previous = rollback_target(ctx, env, digest)
    release = previous.model_copy(
        update={
            "action": "rollback",
            "status": "deployed",
            "rolled_back_from": current.digest,
            "deployed_by": ctx.who.actor,
            "run_url": ctx.who.run_url,
            "registry_version": None,
        }
    )

    def build(_base: str | None) -> tuple[list[TreeEntry], str]:
        entries = ctx.repo.ls_tree(commit, f"{env}/")
        note = f"Restores {env}/ from {commit} (replaces {current.digest})."
        return with_release(ctx.repo, entries, env, release), message("rollback", release, note)

    return ctx.store.write(env, build, ctx.who), release


def accept(
    ctx: Context, env: str, registry_version: str | None, expected_digest: str | None = None
) -> tuple[str, Release]:
    """Mark the current release of ``env`` verified (its smoke test passed).

    ``expected_digest`` is the digest that was smoke-tested: if ``env`` runs something else
    by now, nothing is marked (a concurrent deploy must be verified on its own).
    """
    env = ctx.env(env)
    tip = ctx.store.tip()
    current = ctx.store.read(env, tip) if tip else None
    if current is None:
        raise StateError(f"{env} has never been deployed: nothing to accept")
    tested = check_digest(expected_digest) if expected_digest else current.digest
    release = current.model_copy(update={"status": "verified", "registry_version": registry_version})

    def build(base: str | None) -> tuple[list[TreeEntry], str]:
        latest = ctx.store.read(env, base) if base else None
        if latest is None or latest.digest != tested:
            # Someone deployed in between: what we smoke-tested is no longer what runs.
            raise StateError(f"{env} changed while it was being verified ({tested}); not accepting")
        entries = ctx.repo.ls_tree(base or "", f"{env}/")
        version = f" (registry version {registry_version})" if registry_version else ""
        return with_release(ctx.repo, entries, env, release), message(
            "verified", release, f"Smoke test passed{version}."
        )

    return ctx.store.write(env, build, ctx.who), release


def current_release(ctx: Context, env: str) -> tuple[str, Release]:
    env = ctx.env(env)
    history = ctx.store.history(env)
    if not history:
        raise StateError(f"{env} has never been deployed")
    return history[0]


def apply(ctx: Context, env: str, commit: str) -> str:
    """``kubectl apply`` the state of ``env`` at ``commit`` and wait for the rollout."""
    with tempfile.TemporaryDirectory(prefix="mlapp-apply-") as tmp:
        folder = ctx.store.export(commit, env, Path(tmp))
        overlay = folder / overlay_path(str(ctx.delivery.infra_dir), env)
        objects = kube.render(overlay)
        errors = kube.policy_errors(objects, require_digest=True)
        if errors:
            raise StateError("refusing to apply:\n  " + "\n  ".join(errors))
        namespace, name = kube.deployment_of(objects, ctx.delivery.app)
        with kube.cluster_env() as env_vars:
            return kube.apply(overlay, namespace, name, ctx.delivery.rollout_timeout_s, env_vars)
