"""deploy / promote / rollback / accept: one commit each on the deploy branch; the MLflow aliases.

The cd workflow registers each image's model in MLflow with the tag ``image.digest``. An
environment's alias (``staging``, ``production``) moves to that version only once the
environment passed its smoke test: ``models:/<name>@production`` is what production serves.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from mlapp.delivery import kube
from mlapp.delivery.state import RELEASE_FILE, Branch, Release, StateError, check_digest
from mlapp.params import MlflowParams

MANIFESTS_FILE, DIGEST_TAG = "manifests.yaml", "image.digest"
# What Argo CD, Flux and `kubectl -k` read alike (apiVersion and kind: no tool has to guess).
KUSTOMIZATION = (
    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [manifests.yaml]\n"
)


def message(release: Release, action: str, extra: str = "") -> str:
    model = f" (model {release.model_version})" if release.model_version else ""
    run = [f"Run: {release.run_url}"] if release.run_url else []
    lines = [f"{action} {release.environment}: {release.image}{model}", "", *([extra, ""] if extra else []),
             f"Source-Commit: {release.source_commit}", f"Config-Commit: {release.config_commit}",
             f"Deployed-By: {release.deployed_by}", *run]  # fmt: skip
    return "\n".join(lines) + "\n"


def record(branch: Branch, release: Release) -> str:
    """Commit ``release`` with the overlay of its environment at its config commit, rendered with its
    image and checked against the policy; the commit."""
    env, d, config_commit = release.environment, branch.delivery, release.config_commit
    with branch.checkout(config_commit) as tree:
        if not (overlay := tree / d.infra_dir / "overlays" / env).is_dir():  # e.g. promoting into a new one
            raise StateError(f"no overlays/{env} in commit {config_commit[:12]}: deploy from one that has it")
        objects = kube.pin_image(kube.render(overlay), d.app, release.image)
    if errors := kube.policy_errors(objects, require_digest=True):
        raise StateError(f"refusing to record {env}:\n  " + "\n  ".join(errors))
    header = (f"# Rendered from {d.infra_dir}/overlays/{env} at {config_commit[:12]} with {release.digest}.\n"
              "# Do not edit: deploy jobs write this folder.\n")  # fmt: skip
    files = {"kustomization.yaml": KUSTOMIZATION, RELEASE_FILE: release.model_dump_json(indent=2) + "\n",
             MANIFESTS_FILE: header + yaml.safe_dump_all(objects, sort_keys=False)}  # fmt: skip

    def change(tree: Path, _base: str | None) -> str:
        shutil.rmtree(tree / env, ignore_errors=True)  # files added by hand go too: the folder is ours
        (tree / env).mkdir()
        for name, text in files.items():
            (tree / env / name).write_text(text)
        return message(release, release.action)

    return branch.write(env, change)


def deploy(branch: Branch, env: str, image: str, model_dir: Path | None) -> Release:
    """What deploying ``image`` to ``env`` records: rendered from the current commit's manifests."""
    from mlapp.model import MODEL_FILE, model_sha256  # lazy: pandas, ~0.5 s; only deploy reads a model
    from mlapp.serving import smoke

    infra = branch.delivery.infra_dir
    # What is rendered is infra/ as committed: a change left in the checkout would silently not
    # be deployed (after `make init`, the placeholder image no longer matches delivery.app).
    if changed := branch.git("status", "--porcelain", "--untracked-files=all", "--", str(infra)):
        files = [line.split(maxsplit=1)[1] for line in changed.splitlines()]
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        listed = f"{', '.join(files[:3])}{more}: `git status {infra}`"
        raise StateError(f"uncommitted changes in {infra}/ are not deployed: commit them ({listed})")
    head = branch.git("rev-parse", "HEAD")  # after: with no commit yet, infra/ is said uncommitted
    sha = model_sha256(model_dir) if model_dir and (model_dir / MODEL_FILE).is_file() else None
    return Release(environment=env, image=image, digest=image.split("@")[1], action="deploy",
                   status="deployed", source_commit=os.environ.get("GITHUB_SHA") or head,
                   config_commit=head, model_version=sha and sha[:12], model_sha256=sha,
                   smoke=smoke.case(model_dir)[1] if model_dir and sha else None,
                   deployed_by=branch.actor, run_url=branch.run_url)  # fmt: skip


def redeployed(branch: Branch, release: Release, **update: str | None) -> Release:
    """``release`` deployed again by this job (promoted or rolled back): not verified there yet."""
    who = {"deployed_by": branch.actor, "run_url": branch.run_url}
    return release.model_copy(update={"status": "deployed", "registry_version": None, **who, **update})


def promotion(branch: Branch, target: str, digest: str | None) -> Release:
    """What promoting into ``target`` records: the latest verified release of the environment
    before it (or the one with ``digest`` if that was verified there), same image, same manifests
    commit."""
    order = branch.delivery.environments
    if order.index(target) == 0:
        raise StateError(f"{target} is the first environment: deploy to it, nothing promotes into it")
    source = order[order.index(target) - 1]
    if not (passed := [r for _c, r in branch.history(source) if r.status == "verified"]):
        raise StateError(f"{source} has no verified release yet: nothing passed its smoke test")
    if not (chosen := [r for r in passed if digest is None or r.digest == check_digest(digest)]):
        raise StateError(f"{digest} never passed {source}: only digests verified there can be promoted")
    moved = {"environment": target, "promoted_from": source, "rolled_back_from": None}
    return redeployed(branch, chosen[0], action="promote", **moved)


def rollback(branch: Branch, env: str, digest: str | None) -> Release:
    """What rolling ``env`` back records: its newest verified release running another digest (or
    ``digest``), rendered again from its own config commit, so the folder is what it was then
    (whatever the bad release added is gone from it)."""
    current = branch.current(env, rewriting=True)[1]
    for _commit, release in branch.history(env):
        chosen = digest is None or release.digest == check_digest(digest)
        if release.status == "verified" and release.digest != current.digest and chosen:
            return redeployed(branch, release, action="rollback", rolled_back_from=current.digest)
    wanted = f"verified release with {digest}" if digest else "earlier verified release"
    raise StateError(f"{env} has no {wanted} other than the current {current.digest}")


def accept(branch: Branch, env: str, tested: str, registry_version: str | None) -> str:
    """Mark ``env``'s release verified; refused unless it runs ``tested`` (a malformed digest never does)."""

    def change(tree: Path, base: str | None) -> str:
        latest = branch.read(env, base)
        if latest is None or latest.digest != tested:  # a concurrent deploy: verify that one on its own
            runs = f"runs {latest.digest}" if latest else "has never been deployed"
            raise StateError(f"{env} {runs}, not the tested {tested}; not accepting")
        release = latest.model_copy(update={"status": "verified", "registry_version": registry_version})
        (tree / env / RELEASE_FILE).write_text(release.model_dump_json(indent=2) + "\n")
        version = f" (registry version {registry_version})" if registry_version else ""
        return message(release, "verified", f"Smoke test passed{version}.")

    return branch.write(env, change)


def objects_at(branch: Branch, env: str, commit: str) -> list[kube.Obj]:
    return [o for o in yaml.safe_load_all(branch.git("show", f"{commit}:{env}/{MANIFESTS_FILE}")) if o]


def apply(branch: Branch, env: str, commit: str, cluster: dict[str, str]) -> str:
    """Push mode: apply the folder at ``commit`` and delete what the app's ApplySet holds but the
    folder no longer renders, as a controller's prune would (ApplySet is alpha in kubectl:
    KUBECTL_APPLYSET=true); wait for the rollout. kubectl's output names each object it pruned."""
    objects, d = objects_at(branch, env, commit), branch.delivery
    ns = kube.find(objects, "Deployment", d.app)["metadata"].get("namespace", "default")
    prune = ["--prune", f"--applyset=configmaps/{d.app}-applyset"]
    alpha = {**cluster, "KUBECTL_APPLYSET": "true"}
    applied = kube.kubectl("apply", "-n", ns, "-f", "-", *prune, env=alpha, input=yaml.safe_dump_all(objects))
    status = ["rollout", "status", f"deployment/{d.app}", "-n", ns, f"--timeout={d.rollout_timeout_s}s"]
    return applied + "\n" + kube.kubectl(*status, env=cluster, timeout=d.rollout_timeout_s + 30)


def move_alias(params: MlflowParams, alias: str, digest: str) -> str:
    """Point ``alias`` at the newest registry version built into image ``digest``; that version."""
    from mlflow.tracking import MlflowClient

    from mlapp import registry, tracking, tracking_failures

    tracking.require_server(uri := tracking.connect(params), "the registry", StateError)
    client = MlflowClient()
    query = f"{registry.versions_of(params.model_name)} and tags.`{DIGEST_TAG}` = '{digest}'"
    with tracking_failures.store_free(uri, f"moving alias {alias!r}"):
        if found := client.search_model_versions(query, order_by=["version_number DESC"], max_results=1):
            registry.set_alias(client, params.model_name, alias, version := str(found[0].version))
            return version
    raise StateError(registry.untagged(client, params.model_name, f"{DIGEST_TAG}={digest}"))
