"""deploy / promote / rollback / accept: one commit each on the deploy branch.

deploy renders the environment's overlay of the current commit with the image digest;
promote renders the next environment's overlay from the SAME commit the source environment
was rendered from, with the SAME digest; rollback restores the folder of the previous verified
release (objects the bad release added disappear from it, so the controller, or the ApplySet
in push mode, prunes them); accept marks the release verified after its smoke test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlapp.delivery import kube, state
from mlapp.delivery.git import git, git_ok, worktree
from mlapp.delivery.images import ImageRef, check_digest
from mlapp.delivery.state import MANIFESTS_FILE, RELEASE_FILE, Branch, Release, StateError, Who
from mlapp.params import DeliveryParams


@dataclass
class Context:
    delivery: DeliveryParams
    root: Path
    branch: Branch
    who: Who

    @classmethod
    def open(cls, delivery: DeliveryParams, root: Path, sync: bool) -> Context:
        branch = Branch(root, delivery.state_branch, delivery.remote, sync)
        return cls(delivery, root, branch, Who.from_env())

    def env(self, name: str) -> str:
        if name not in self.delivery.environments:
            raise StateError(f"unknown environment {name!r}: params has {self.delivery.environments}")
        return name

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.root)


def model_identity(model_dir: Path | None) -> tuple[str | None, str | None]:
    """(version, sha256) of a local model, as the service reports it; (None, None) if absent."""
    from mlapp.model import MODEL_FILE, file_sha256  # lazy: xgboost costs ~1.5 s to import

    if model_dir is None or not (model_dir / MODEL_FILE).is_file():
        return None, None
    sha = file_sha256(model_dir / MODEL_FILE)
    return sha[:12], sha


def render(ctx: Context, env: str, ref: ImageRef, config_commit: str) -> str:
    """The overlay of ``env`` at ``config_commit``, rendered, image pinned, checked against the policy."""
    if not git_ok("cat-file", "-e", f"{config_commit}^{{commit}}", cwd=ctx.root):  # a shallow CI clone
        remote, auth = ctx.delivery.remote, ctx.branch.auth()
        git("fetch", "-q", "--depth=1", remote, config_commit, cwd=ctx.root, env=auth)
    with worktree(ctx.root, config_commit) as tree:
        objects = kube.render(tree / ctx.delivery.infra_dir / "overlays" / env)
    objects = kube.pin_image(objects, ctx.delivery.app, ref)
    errors = kube.policy_errors(objects, require_digest=True)
    if errors:
        raise StateError(f"refusing to record {env}:\n  " + "\n  ".join(errors))
    return (
        f"# Rendered from {ctx.delivery.infra_dir}/overlays/{env} at {config_commit[:12]} with {ref.short}.\n"
        "# Do not edit: the deploy workflows write this folder, the controller syncs it.\n"
        + kube.dump(objects)
    )


def _release(ctx: Context, env: str, ref: ImageRef, **fields: str | None) -> Release:
    values: dict[str, str | None] = {
        "environment": env, "image": str(ref), "digest": ref.digest, "status": "deployed",
        "config_commit": ctx.head(), "registry_version": None, "promoted_from": None,
        "rolled_back_from": None, "deployed_by": ctx.who.actor, "run_url": ctx.who.run_url,
    }  # fmt: skip
    return Release.model_validate({**values, **fields})


def _record(ctx: Context, release: Release, manifests: str) -> str:
    def change(tree: Path, _base: str | None) -> str:
        state.write_folder(tree / release.environment, manifests, release)
        return state.message(release.action, release)

    return ctx.branch.write(release.environment, change, ctx.who)


def deploy(
    ctx: Context, env: str, ref: ImageRef, source_commit: str | None, model_dir: Path | None
) -> tuple[str, Release]:
    """Record that ``env`` runs ``ref``, rendered from the current commit's manifests."""
    version, sha = model_identity(model_dir)
    source = source_commit or os.environ.get("GITHUB_SHA") or ctx.head()
    release = _release(
        ctx, ctx.env(env), ref, action="deploy", source_commit=source, model_version=version, model_sha256=sha
    )
    return _record(ctx, release, render(ctx, env, ref, release.config_commit)), release


def promotable(ctx: Context, source_env: str, digest: str | None) -> Release:
    """The release of ``source_env`` to promote: its latest verified one, or ``digest`` if verified there."""
    passed = state.verified(ctx.branch.history(ctx.env(source_env)))
    if not passed:
        raise StateError(f"{source_env} has no verified release yet: nothing passed its smoke test")
    for _commit, release in passed:
        if digest is None or release.digest == check_digest(digest):
            return release
    raise StateError(f"{digest} never passed {source_env}: only digests verified there can be promoted")


def previous_env(ctx: Context, target: str) -> str:
    order = ctx.delivery.environments
    if order.index(ctx.env(target)) == 0:
        raise StateError(f"{target} is the first environment: deploy to it, nothing promotes into it")
    return order[order.index(target) - 1]


def promote(ctx: Context, target: str, digest: str | None) -> tuple[str, Release]:
    """Deploy to ``target`` the exact image that passed the environment before it, same manifests commit."""
    source = previous_env(ctx, target)
    passed = promotable(ctx, source, digest)
    release = passed.model_copy(
        update={
            "environment": target,
            "action": "promote",
            "status": "deployed",
            "registry_version": None,
            "promoted_from": source,
            "rolled_back_from": None,
            "deployed_by": ctx.who.actor,
            "run_url": ctx.who.run_url,
        }
    )
    return _record(ctx, release, render(ctx, target, passed.ref, passed.config_commit)), release


def rollback_target(ctx: Context, env: str, digest: str | None) -> tuple[str, Release]:
    """(commit, release) to go back to: the newest verified one running another digest."""
    history = ctx.branch.history(ctx.env(env))
    if not history:
        raise StateError(f"{env} has never been deployed: nothing to roll back")
    current = history[0][1]
    for commit, release in state.verified(history):
        if release.digest != current.digest and (digest is None or release.digest == check_digest(digest)):
            return commit, release
    wanted = f"verified release with {digest}" if digest else "earlier verified release"
    raise StateError(f"{env} has no {wanted} other than the current {current.digest}")


def rollback(ctx: Context, env: str, digest: str | None) -> tuple[str, Release]:
    """A commit restoring ``env``'s folder (manifests AND image) of its previous verified release."""
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

    def change(tree: Path, _base: str | None) -> str:
        shutil.rmtree(tree / env)  # whatever the bad release added goes, too
        git("checkout", commit, "--", f"{env}/", cwd=tree)
        (tree / env / RELEASE_FILE).write_text(release.to_json())
        return state.message(
            "rollback", release, f"Restores {env}/ from {commit} (replaces {current.digest})."
        )

    return ctx.branch.write(env, change, ctx.who), release


def accept(ctx: Context, env: str, registry_version: str | None, tested: str | None) -> tuple[str, Release]:
    """Mark ``env``'s release verified; refuse if it no longer runs the ``tested`` digest."""
    current = ctx.branch.read(ctx.env(env), ctx.branch.fetch() if ctx.branch.sync else None)
    if current is None:
        raise StateError(f"{env} has never been deployed: nothing to accept")
    digest = check_digest(tested) if tested else current.digest
    release = current.model_copy(update={"status": "verified", "registry_version": registry_version})

    def change(tree: Path, base: str | None) -> str:
        latest = ctx.branch.read(env, base) if base else None
        if latest is None or latest.digest != digest:  # a concurrent deploy: verify that one on its own
            raise StateError(f"{env} changed while it was being verified ({digest}); not accepting")
        (tree / env / RELEASE_FILE).write_text(release.to_json())
        version = f" (registry version {registry_version})" if registry_version else ""
        return state.message("verified", release, f"Smoke test passed{version}.")

    return ctx.branch.write(env, change, ctx.who), release


def current_release(ctx: Context, env: str) -> tuple[str, Release]:
    history = ctx.branch.history(ctx.env(env))
    if not history:
        raise StateError(f"{env} has never been deployed")
    return history[0]


def manifests_at(ctx: Context, env: str, commit: str) -> str:
    return git("show", f"{commit}:{env}/{MANIFESTS_FILE}", cwd=ctx.root) + "\n"


def apply(ctx: Context, env: str, commit: str, cluster: dict[str, str]) -> str:
    """Push mode: ``kubectl apply --prune --applyset`` the folder at ``commit``, wait for the rollout."""
    text = manifests_at(ctx, env, commit)
    objects = [o for o in kube.yaml.safe_load_all(text) if o]
    history = [c for c, _r in ctx.branch.history(env) if c != commit]
    before = [o for o in kube.yaml.safe_load_all(manifests_at(ctx, env, history[0])) if o] if history else []
    _added, removed = kube.changes(before, objects)
    with tempfile.TemporaryDirectory(prefix="mlapp-apply-") as tmp:
        path = Path(tmp) / MANIFESTS_FILE
        path.write_text(text)
        d = ctx.delivery
        out = kube.apply(path, kube.namespace_of(objects, d.app), d.app, d.rollout_timeout_s, cluster)
    return out + "".join(f"pruned (no longer in the manifests): {k}\n" for k in removed)
