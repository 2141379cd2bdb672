"""What the ``mlapp delivery`` subcommands do, behind thin click wrappers.

Each prints what it did in a line or two (the workflow log is the audit trail). What cannot
be done yet because the repository is not configured (no cluster, no service URL, no MLflow
server) is not an error: it goes to the job summary as the exact setting to add.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from mlapp import gha, proc
from mlapp.delivery import argocd, images, kube, ops, verify
from mlapp.delivery.state import Release, StateError
from mlapp.params import Params


def note(markdown: str) -> None:
    """Something to configure: in the log and on the run's summary page."""
    click.echo(markdown)
    gha.append_summary(markdown)


def context(params: Params, sync: bool) -> ops.Context:
    ctx = ops.Context.open(params.delivery, Path(), sync)
    if sync:
        ctx.branch.fetch()
    return ctx


def _verify_attestation(ref: images.ImageRef) -> None:
    from mlapp.delivery import github

    count = github.verify_attestation(str(ref), github.repository())
    click.echo(f"verified {count} provenance attestation(s) for {ref} (signer: cd workflow on main)")


def _recorded(params: Params, ctx: ops.Context, commit: str, release: Release) -> None:
    env, d = release.environment, params.delivery
    where = f"{d.remote}/{d.state_branch}" if ctx.branch.sync else d.state_branch
    click.echo(f"{release.action} {env}: {release.image} -> {where} {commit[:12]}")
    if d.mode == "gitops":
        click.echo(f"{env}: desired state recorded; Argo CD Application {d.app}-{env} syncs it")
        return
    with kube.cluster_env() as cluster:
        if cluster is None:
            note(
                f"**{env}** (push mode): recorded, not applied. Add the secret `KUBE_CONFIG` to the GitHub "
                f"environment `{env}` (docs/github-setup.md), or switch `delivery.mode` to `gitops`."
            )
            return
        click.echo(ops.apply(ctx, env, commit, cluster).rstrip())


def deploy(params: Params, env: str, image: str, model_dir: Path | None, push: bool, verify_: bool) -> None:
    ref = images.parse(image)
    if verify_:
        _verify_attestation(ref)
    ctx = context(params, push)
    commit, release = ops.deploy(ctx, env, ref, None, model_dir or params.train.model_dir)
    _recorded(params, ctx, commit, release)


def promote(params: Params, target: str, digest: str | None, push: bool, verify_: bool) -> None:
    ctx = context(params, push)
    wanted = None if digest in (None, "", "current") else digest
    chosen = ops.promotable(ctx, ops.previous_env(ctx, target), wanted)
    if verify_:
        _verify_attestation(chosen.ref)
    commit, release = ops.promote(ctx, target, chosen.digest)
    _recorded(params, ctx, commit, release)


def rollback(params: Params, env: str, digest: str | None, push: bool, verify_: bool) -> None:
    ctx = context(params, push)
    if verify_:
        _verify_attestation(ops.rollback_target(ctx, env, digest)[1].ref)
    commit, release = ops.rollback(ctx, env, digest)
    _recorded(params, ctx, commit, release)


def _registry_configured(params: Params) -> bool:
    """A runner's sqlite file dies with the job: on GitHub only a tracking server counts."""
    uri = params.mlflow.resolved_tracking_uri()
    return not (gha.is_actions() and uri.startswith("sqlite:"))


def accept(params: Params, env: str, digest: str | None, push: bool, registry: bool) -> None:
    ctx = context(params, push)
    current = ops.current_release(ctx, env)[1]
    tested = digest or current.digest
    if tested != current.digest:
        raise StateError(f"{env} runs {current.digest}, not the tested {tested}; not accepting")
    version = None
    if registry and _registry_configured(params):
        from mlapp.delivery.registry import move_alias

        version = move_alias(params.mlflow, env, tested)
        click.echo(f"MLflow alias {params.mlflow.model_name}@{env} -> version {version}")
    elif registry:
        note(
            f"**{env}**: verified without moving the MLflow alias `{env}`: set the variable "
            f"`MLFLOW_TRACKING_URI` (and a token secret) in the GitHub environment `{env}`."
        )
    commit, release = ops.accept(ctx, env, version, tested)
    click.echo(f"{env} verified: {release.image} ({commit[:12]})")


def status(params: Params, fetch: bool) -> None:
    ctx = context(params, fetch)
    for env in params.delivery.environments:
        history = ctx.branch.history(env)
        if not history:
            click.echo(f"{env:<12} never deployed")
            continue
        commit, r = history[0]
        click.echo(
            f"{env:<12} {r.status:<9} {r.digest[:19]}  model {r.model_version or '?':<12} "
            f"source {r.source_commit[:12]}  {r.action} by {r.deployed_by}  state {commit[:12]}"
        )


@contextmanager
def service_url(ctx: ops.Context, env: str, url: str | None) -> Iterator[str | None]:
    """``url``; else a port-forward to the Service when kubectl reaches a cluster; else None."""
    if url:
        yield url
        return
    with kube.cluster_env() as cluster:
        if cluster is None:
            yield None
            return
        text = ops.manifests_at(ctx, env, ops.current_release(ctx, env)[0])
        objects = [o for o in kube.yaml.safe_load_all(text) if o]
        app = ctx.delivery.app
        port = int(kube.find(objects, "Service", app)["spec"]["ports"][0]["port"])
        with kube.port_forward(kube.namespace_of(objects, app), app, port, cluster) as local:
            yield local


def wait(params: Params, env: str, url: str | None, fetch: bool, timeout_s: float | None) -> None:
    """Until ``env`` serves its release's model; ``reachable=false`` (and a note) when nothing can tell."""
    d = params.delivery
    ctx = context(params, fetch)
    release = ops.current_release(ctx, env)[1]
    if release.model_version is None:
        raise StateError(f"{env}'s release names no model version: deploy it with the model (--model-dir)")
    with service_url(ctx, env, url) as base:
        if base is None:
            gha.set_outputs({"reachable": False})
            note(
                f"**{env}**: desired state recorded ({release.digest}); nothing can reach the service, "
                f"so it is not verified. Set the variable `SERVICE_URL` in the GitHub environment `{env}` "
                "(or the secret `KUBE_CONFIG` for a port-forward); to run a cluster, see infra/README.md."
            )
            return
        with kube.cluster_env() as cluster:
            argo = d.argocd
            status = (
                (lambda: verify.argocd_status(f"{d.app}-{env}", argo.namespace, cluster)) if cluster else None
            )
            verify.wait_serving(
                base,
                release.model_version,
                d.sync_timeout_s if timeout_s is None else timeout_s,
                d.poll_s,
                click.echo,
                status,
            )
    gha.set_outputs({"reachable": True})


def smoke(params: Params, env: str, url: str | None, fetch: bool) -> None:
    """The serving smoke test against ``env``, expecting the model its release records."""
    from mlapp.serving import smoke as check

    ctx = context(params, fetch)
    release = ops.current_release(ctx, env)[1]
    model_dir = params.train.model_dir
    with tempfile.TemporaryDirectory(prefix="mlapp-model-") as tmp:
        if ops.model_identity(model_dir)[0] != release.model_version:  # a promotion job: main's model differs
            from mlapp.delivery.registry import fetch_model

            model_dir = fetch_model(params.mlflow, release.digest, Path(tmp) / "model")
            click.echo(f"fetched model {release.model_version} of {release.digest[:19]} from the registry")
        with service_url(ctx, env, url) as base:
            if base is None:
                raise StateError(f"no way to reach {env}: set SERVICE_URL or KUBE_CONFIG")
            try:
                check.run(base, model_dir, release.model_version, echo=click.echo)
            except check.SmokeFailure as exc:
                raise StateError(f"smoke test against {env} failed: {exc}") from exc
    click.echo(f"smoke test passed: {env} ({base})")


def repo_url(params: Params, explicit: str | None) -> str:
    if explicit or params.delivery.argocd.repo_url:
        return str(explicit or params.delivery.argocd.repo_url)
    return argocd.https_url(proc.output(["git", "remote", "get-url", params.delivery.remote]))


def bootstrap(params: Params, url: str | None, dry_run: bool) -> None:
    """Namespaces + Argo CD project and Applications into a cluster that runs Argo CD."""
    with kube.cluster_env() as cluster:
        if cluster is None:
            raise StateError("no cluster: set KUBECONFIG (or KUBE_CONFIG) to one that runs Argo CD")
        extra = ("--dry-run=server",) if dry_run else ()
        click.echo(
            kube.kubectl("apply", "-k", str(params.delivery.infra_dir / "bootstrap"), *extra, env=cluster)
        )
        text = argocd.render(params.delivery, repo_url(params, url))
        click.echo(argocd.apply_text(text, None, cluster, *extra).rstrip())


def install_argocd(params: Params) -> None:
    with kube.cluster_env() as cluster:
        if cluster is None:
            raise StateError("no cluster: set KUBECONFIG (or KUBE_CONFIG)")
        click.echo(argocd.install(params.delivery, cluster).rstrip())
        cfg = params.delivery.argocd
        click.echo(f"Argo CD {cfg.version} installed in namespace {cfg.namespace}")


def check_manifests(params: Params) -> None:
    """Overlays (schemas + policy), bootstrap (schemas), Argo CD objects (agree with params)."""
    d = params.delivery
    problems = {}
    for env in d.environments:
        objects = kube.render(d.infra_dir / "overlays" / env)
        problems[f"overlays/{env}"] = kube.schema_errors(objects, d.kubernetes_version) + kube.policy_errors(
            objects, require_digest=False
        )
    problems["bootstrap"] = kube.schema_errors(kube.render(d.infra_dir / "bootstrap"), d.kubernetes_version)
    problems["argocd"] = argocd.check(d)
    for name, errors in problems.items():
        for error in errors:
            click.echo(f"{d.infra_dir}/{name}: {error}", err=True)
        if not errors:
            click.echo(f"{d.infra_dir}/{name}: valid")
    if any(problems.values()):
        sys.exit(1)


def image_metadata(params: Params, repository: str | None) -> None:
    from mlapp import tracking
    from mlapp.delivery import github

    repo = github.repository(repository)
    name = images.image_name(params.delivery.registry, repo)
    version, _sha = ops.model_identity(params.train.model_dir)
    if version is None:
        raise StateError(f"no model in {params.train.model_dir}: run the pipeline (or pull its outputs)")
    lineage = tracking.lineage_tags(params.train.model_dir)
    commit = os.environ.get("GITHUB_SHA") or lineage["git.commit"]
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    labels = images.labels(f"{server}/{repo}", commit, version, lineage)
    values: dict[str, gha.OutputValue] = {"image": name, "tags": images.tags(name, commit, version),
                                          "labels": [f"{k}={v}" for k, v in labels.items()],
                                          "model-version": version}  # fmt: skip
    gha.set_outputs(values)
    for key, value in values.items():
        click.echo(f"{key}: " + (", ".join(value) if isinstance(value, list) else str(value)))
