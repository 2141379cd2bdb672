"""What the ``mlapp delivery`` subcommands do, behind thin click wrappers.

Each prints what it did in a line or two (the workflow log is the audit trail). What cannot
be done yet because the repository is not configured (no cluster, no service URL, no MLflow
server) is not an error: it goes to the job summary as the exact setting to add.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mlapp import gha, git
from mlapp.delivery import cluster, github, kube, ops
from mlapp.delivery.state import Branch, EditedByHand, Release, StateError, image_ref
from mlapp.params import Params


def recorded(branch: Branch, release: Release, verify: bool) -> None:
    """Refuse an image without provenance (``verify``), commit ``release``, say where it went;
    push mode: apply it (or say what is missing to)."""
    env, d, image = release.environment, branch.delivery, release.image
    if verify:
        count = github.verify_attestation(image, github.repository())
        click.echo(f"verified {count} provenance attestation(s) for {image} (signer: cd workflow on main)")
    commit = ops.record(branch, release)
    where = f"{d.remote}/{d.state_branch}" if branch.sync else d.state_branch
    click.echo(f"{release.action} {env}: {image} -> {where} {commit[:12]}")
    if git.rev(f"{commit}^", cwd=branch.root) is None:  # the first release, or the branch was deleted
        click.echo(f"{where} did not exist: started anew here, without history or other environments")
    if d.mode == "gitops":
        return click.echo(f"{env}: desired state recorded; Argo CD Application {d.app}-{env} syncs it")
    with kube.cluster_env() as config:
        if config is None:
            return cluster.note(
                f"**{env}** (push mode): recorded, not applied. Add the secret `KUBE_CONFIG` to the GitHub "
                f"environment `{env}` (docs/github-setup.md), or switch `delivery.mode` to `gitops`."
            )
        click.echo(ops.apply(branch, env, commit, config))


def deploy(params: Params, env: str, image: str, model_dir: Path | None, push: bool, verify: bool) -> None:
    branch = Branch(params.delivery, sync=push)
    recorded(branch, ops.deploy(branch, env, image_ref(image), model_dir or params.train.model_dir), verify)


def promote(params: Params, target: str, digest: str | None, push: bool, verify: bool) -> None:
    branch, wanted = Branch(params.delivery, sync=push), None if digest in (None, "", "current") else digest
    recorded(branch, ops.promotion(branch, target, wanted), verify)  # wanted None: the latest verified


def rollback(params: Params, env: str, digest: str | None, push: bool, verify: bool) -> None:
    branch = Branch(params.delivery, sync=push)
    recorded(branch, ops.rollback(branch, env, digest), verify)


def accept(params: Params, env: str, digest: str | None, push: bool, registry: bool) -> None:
    """The alias moves first (only for what runs now); then the release is marked verified."""
    branch = Branch(params.delivery, sync=push)
    state, current = branch.current(env)
    if (tested := digest or current.digest) != current.digest:
        raise StateError(f"{env} runs {current.digest}, not the tested {tested}; not accepting")
    # A runner's sqlite file dies with the job: on GitHub only a tracking server counts.
    runner_db = gha.is_actions() and params.mlflow.resolved_tracking_uri().startswith("sqlite:")
    # Verified: a re-run job (its alias moved then), unless that accept had no registry and this one has.
    if current.status == "verified" and (current.registry_version or not registry or runner_db):
        return click.echo(f"{env} already verified: {current.image} ({state[:12]}); nothing changed")
    version = None
    if registry and runner_db:
        cluster.note(f"**{env}**: verified without moving the MLflow alias `{env}`: set the variable "
            f"`MLFLOW_TRACKING_URI` (and a token secret) in the GitHub environment `{env}`.")  # fmt: skip
    elif registry:
        version = ops.move_alias(params.mlflow, env, tested)
        click.echo(f"MLflow alias {params.mlflow.model_name}@{env} -> version {version}")
    commit = ops.accept(branch, env, tested, version)
    click.echo(f"{env} verified: {current.image} ({commit[:12]})")


def status(params: Params, fetch: bool) -> None:
    """One line per environment; exit 1 (a "no") when one was edited by hand, whatever else runs."""
    branch, edited = Branch(d := params.delivery, sync=fetch), False
    for env in d.environments:
        try:
            commit, r = branch.current(env)
        except StateError as exc:  # never deployed (fine), or edited by hand (not)
            edited |= isinstance(exc, EditedByHand)
            click.echo(f"{env:<12} {exc}")
            continue
        click.echo(
            f"{env:<12} {r.status:<9} {r.digest[:19]}  model {r.model_version or '?':<12} "
            f"source {r.source_commit[:12]}  {r.action} by {r.deployed_by}  state {commit[:12]}"
        )
    where = f"{d.remote}/{d.state_branch}" if fetch else f"the local branch {d.state_branch}"
    how = ", fetched" if fetch else " (not fetched)"  # without --fetch, the local branch may lag behind
    click.echo(f"read from {where}{how}" if (tip := branch.tip()) else f"{where} does not exist{how}")
    # A local deploy (docs/workflows/cd.md) is on the local branch alone; one only behind is no news.
    local, behind = git.rev(f"refs/heads/{d.state_branch}", cwd=branch.root), ["--not", tip] if tip else []
    if fetch and local and branch.git("rev-list", "--max-count=1", local, *behind):
        click.echo(f"the local branch {d.state_branch} has commits {where} lacks ({local[:12]}): "
                   "`mlapp delivery status` reads it")  # fmt: skip
    if edited:
        sys.exit(1)


def check_manifests(params: Params) -> None:
    """Overlays (schemas + policy; labelled with their environment: the ServiceMonitor copies it
    onto every series), one per environment, bootstrap (schemas + namespaces), Argo CD objects."""
    d, overlays = params.delivery, params.delivery.infra_dir / "overlays"
    boot = kube.render(d.infra_dir / "bootstrap")
    need = sorted({cluster.namespace(d, env) for env in d.environments})  # Argo CD does not create them
    made = sorted(o["metadata"]["name"] for o in kube.of_kind(boot, "Namespace"))
    wrong = [f"must create exactly the namespaces {need}"] if made != need else []
    problems = {"bootstrap": kube.schema_errors(boot, d.kubernetes_version) + wrong}
    for stray in sorted({p.name for p in overlays.glob("*/")} - {*d.environments}):  # none: no overlays/
        problems[f"overlays/{stray}"] = [f"not in params {d.environments}: `git mv` it to the environment "
                                         "it became, or `git rm -r` it"]  # fmt: skip
    for env in d.environments:
        if not (overlay := overlays / env).is_dir():
            like = next((e for e in d.environments if (overlays / e).is_dir()), "<another environment>")
            copy = f"a copy of overlays/{like} with namespace {cluster.namespace(d, env)}"
            problems[f"overlays/{env}"] = [f'missing: {copy} (infra/README.md, "Adding an environment")']
            continue
        objects = kube.render(overlay)
        want = {"environment": env, "app.kubernetes.io/instance": f"{d.app}-{env}"}
        found = {(k, o["metadata"].get("labels", {}).get(k, v)) for o in objects for k, v in want.items()}
        errors = [f"labels: {k}: {v}; set it to {want[k]}" for k, v in sorted(found - {*want.items()})]
        errors += kube.schema_errors(objects, d.kubernetes_version)
        problems[f"overlays/{env}"] = errors + kube.policy_errors(objects, require_digest=False)
    problems["argocd"] = cluster.check(d)
    for name, errors in problems.items():
        for line in errors or ["valid"]:
            click.echo(f"{d.infra_dir}/{name}: {line}", err=bool(errors))
    if any(problems.values()):
        sys.exit(1)


def image_metadata(params: Params, repository: str | None) -> None:
    """Image name, tags and OCI + lineage labels as step outputs (GitHub names are lower case)."""
    from mlapp import lineage

    repo, model_dir = github.repository(repository, option="--repository"), params.train.model_dir
    name = f"{params.delivery.registry.rstrip('/')}/{repo.lower()}"
    tags = lineage.tags(model_dir)  # no model: ModelMissing, a UserError naming the file to make
    version = tags["model.sha256"][:12]  # the model version, as the service reports it
    commit = os.environ.get("GITHUB_SHA") or tags["git.commit"]
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    oci = {"source": f"{server}/{repo}", "revision": commit, "version": f"model-{version}",
           "title": "mlapp model service",
           "description": "BentoML service for the model built from this commit"}  # fmt: skip
    labels = {f"org.opencontainers.image.{k}": v for k, v in oci.items()}
    labels |= {f"io.mlapp.{k}": v.replace("\n", " ") for k, v in sorted(tags.items())}
    values: dict[str, gha.OutputValue] = {
        "image": name,
        "tags": [f"{name}:{commit}", f"{name}:model-{version}"],
        "labels": [f"{k}={v}" for k, v in labels.items()],
        "model-version": version,
    }
    gha.set_outputs(values)
    for key, value in values.items():
        click.echo(f"{key}: " + (", ".join(value) if isinstance(value, list) else str(value)))
