"""What the delivery subcommands of ``mlapp`` do, behind thin click wrappers in mlapp.cli.

Each function prints what it did in one or two lines: the workflow log is the audit
trail a maintainer reads when a deploy fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from mlapp.delivery import images, kube, ops
from mlapp.delivery.state import Release, StateError, overlay_path
from mlapp.params import Params


def context(params: Params, sync: bool) -> ops.Context:
    ctx = ops.Context.open(params.delivery, Path(), sync)
    if sync:
        ctx.store.fetch()
    return ctx


def _verify(ref: images.ImageRef) -> None:
    from mlapp.delivery import github

    count = github.verify_attestation(ref, github.repository())
    click.echo(f"verified {count} provenance attestation(s) for {ref} (signer: cd workflow on main)")


def _preflight(params: Params, apply: bool) -> None:
    if apply:  # the release is accepted through the registry later: check it before touching a cluster
        from mlapp.delivery import registry

        registry.preflight(params.mlflow)


def _finish(ctx: ops.Context, env: str, commit: str, release: Release, do_apply: bool) -> None:
    where = f"{ctx.store.remote}/{ctx.store.branch}" if ctx.store.sync else ctx.store.branch
    click.echo(f"{release.action} {env}: {release.image} -> {where} {commit[:12]}")
    if do_apply:
        click.echo(ops.apply(ctx, env, commit).rstrip())
        click.echo(f"{env} rolled out {release.digest}")


def deploy(
    params: Params,
    env: str,
    image: str,
    source_commit: str | None,
    model_dir: Path | None,
    push: bool,
    apply: bool,
    verify: bool,
) -> None:
    ref = images.parse(image)
    _preflight(params, apply)
    if verify:
        _verify(ref)
    ctx = context(params, push)
    commit, release = ops.deploy(ctx, env, ref, source_commit, model_dir or params.train.model_dir)
    _finish(ctx, env, commit, release, apply)


def promote(
    params: Params, target: str, source: str | None, digest: str | None, push: bool, apply: bool, verify: bool
) -> None:
    _preflight(params, apply)
    ctx = context(params, push)
    wanted = None if digest in (None, "", "current", "current-staging") else digest
    chosen = ops.promotable(ctx, source or _previous(params, target), wanted)
    if verify:
        _verify(chosen.ref)
    commit, release = ops.promote(ctx, target, source, chosen.digest)
    _finish(ctx, target, commit, release, apply)


def _previous(params: Params, target: str) -> str:
    order = params.delivery.environments
    if target not in order or order.index(target) == 0:
        raise StateError(f"nothing promotes into {target!r} (environments: {order})")
    return order[order.index(target) - 1]


def rollback(params: Params, env: str, digest: str | None, push: bool, apply: bool, verify: bool) -> None:
    _preflight(params, apply)
    ctx = context(params, push)
    if verify:
        _verify(ops.rollback_target(ctx, env, digest)[1].ref)
    commit, release = ops.rollback(ctx, env, digest)
    _finish(ctx, env, commit, release, apply)


def accept(params: Params, env: str, digest: str | None, push: bool, registry: bool) -> None:
    ctx = context(params, push)
    _commit, current = ops.current_release(ctx, env)
    tested = digest or current.digest
    if tested != current.digest:
        raise StateError(f"{env} runs {current.digest}, not the tested {tested}; not accepting")
    version = None
    if registry:
        from mlapp.delivery.registry import move_alias

        version = move_alias(params.mlflow, env, tested)
        click.echo(f"MLflow alias {params.mlflow.model_name}@{env} -> version {version}")
    commit, release = ops.accept(ctx, env, version, tested)
    click.echo(f"{env} verified: {release.image} ({commit[:12]})")


def status(params: Params, fetch: bool) -> None:
    ctx = context(params, fetch)
    for env in params.delivery.environments:
        history = ctx.store.history(env)
        if not history:
            click.echo(f"{env:<12} never deployed")
            continue
        commit, r = history[0]
        click.echo(
            f"{env:<12} {r.status:<9} {r.digest[:19]}  model {r.model_version or '?':<12} "
            f"source {r.source_commit[:12]}  {r.action} by {r.deployed_by}  state {commit[:12]}"
        )


@contextmanager
def _service_url(ctx: ops.Context, env: str, url: str | None) -> Iterator[str]:
    """``url`` if given, else a ``kubectl port-forward`` to the env's Service for the duration."""
    if url:
        yield url
        return
    commit, _release = ops.current_release(ctx, env)
    with tempfile.TemporaryDirectory(prefix="mlapp-smoke-") as tmp:
        folder = ctx.store.export(commit, env, Path(tmp))
        objects = kube.render(folder / overlay_path(str(ctx.delivery.infra_dir), env))
    namespace, name = kube.deployment_of(objects, ctx.delivery.app)
    port = kube.service_port(objects, name)
    with kube.cluster_env() as env_vars, kube.port_forward(namespace, name, port, env_vars) as local:
        yield local


def smoke_env(params: Params, params_path: Path, env: str, url: str | None, fetch: bool) -> None:
    """The serving smoke test against ``env``, expecting the model its release record names."""
    ctx = context(params, fetch)
    _commit, release = ops.current_release(ctx, env)
    if release.model_version is None:
        raise StateError(f"{env}'s release record names no model version; redeploy with --model-dir")
    model_dir = params.train.model_dir
    local_version, _sha = ops.model_identity(model_dir)
    with tempfile.TemporaryDirectory(prefix="mlapp-model-") as tmp:
        if local_version != release.model_version:
            from mlapp.delivery.registry import fetch_model

            model_dir = fetch_model(params.mlflow, release.digest, Path(tmp) / "model")
            click.echo(f"fetched model {release.model_version} of {release.digest[:19]} from the registry")
        with _service_url(ctx, env, url) as base:
            argv = [
                sys.executable, "-m", "mlapp", "--params", str(params_path), "serving", "smoke",
                "--url", base, "--expect-version", release.model_version, "--model-dir", str(model_dir),
            ]  # fmt: skip
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
    click.echo(done.stdout.rstrip())
    if done.returncode != 0:
        click.echo(done.stderr.rstrip(), err=True)
        sys.exit(done.returncode)


def image_metadata(params: Params, repository: str | None, github_output: Path | None) -> None:
    from mlapp import tracking
    from mlapp.delivery import github

    repo = github.repository(repository)
    name = images.image_name(params.delivery.registry, repo)
    model_dir = params.train.model_dir
    version, _sha = ops.model_identity(model_dir)
    if version is None:
        raise StateError(f"no model in {model_dir}: run the pipeline (or pull its outputs) first")
    lineage = tracking.lineage_tags(model_dir)
    commit = os.environ.get("GITHUB_SHA") or lineage["git.commit"]
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    labels = images.labels(f"{server}/{repo}", commit, version, lineage)
    values: dict[str, str | list[str]] = {
        "image": name,
        "tags": images.tags(name, commit, version),
        "labels": [f"{k}={v}" for k, v in labels.items()],
        "model-version": version,
    }
    if github_output:
        images.github_output(values, github_output)
    for key, value in values.items():
        click.echo(f"{key}: " + (", ".join(value) if isinstance(value, list) else value))


def release_notes(params: Params, env: str, out: Path | None, publish: bool, fetch: bool) -> None:
    from mlapp.delivery import github, modelcard

    ctx = context(params, fetch)
    commit, release = ops.current_release(ctx, env)
    repo = os.environ.get("GITHUB_REPOSITORY")
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    registry_version, tags, metrics = _registry_facts(params, release)
    card = modelcard.render(
        modelcard.CardInputs(
            release=release,
            state_commit=commit,
            repo_url=f"{server}/{repo}" if repo else None,
            registry_version=registry_version,
            version_tags=tags,
            metrics=metrics,
            pull_requests=github.pull_requests_for(repo, release.source_commit) if repo else [],
        )
    )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(card)
    if not publish:
        if not out:
            click.echo(card)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as handle:
        handle.write(card)
    tag = f"{env}-{release.model_version or 'model'}-{commit[:7]}"
    title = f"{env}: model {release.model_version} ({release.digest[:19]})"
    github.run(github.release_argv(github.repository(), tag, release.source_commit, title, handle.name))
    Path(handle.name).unlink()
    click.echo(f"recorded GitHub release {tag}")


def _registry_facts(params: Params, release: Release) -> tuple[str | None, dict[str, str], dict[str, float]]:
    """Version, tags and run metrics of the registry version in the image; empty if unreachable."""
    from mlapp.delivery.registry import RegistryError, version_for_digest

    try:
        version, tags = version_for_digest(params.mlflow, release.digest)
    except RegistryError as exc:
        click.echo(f"warning: {exc}", err=True)
        return release.registry_version, {}, {}
    import mlflow

    metrics = dict(mlflow.get_run(tags["run_id"]).data.metrics) if "run_id" in tags else {}
    return version, tags, metrics


def check_manifests(params: Params, overlays: tuple[Path, ...]) -> None:
    """Render every overlay and validate each object offline; exit 1 listing every problem."""
    infra = params.delivery.infra_dir
    chosen = overlays or tuple(infra / "overlays" / env for env in params.delivery.environments)
    failed = False
    for overlay in chosen:
        errors = kube.check_overlay(overlay, params.delivery.kubernetes_version)
        for error in errors:
            click.echo(f"{overlay}: {error}", err=True)
        failed |= bool(errors)
        if not errors:
            click.echo(f"{overlay}: valid (Kubernetes {params.delivery.kubernetes_version} schemas + policy)")
    bootstrap = infra / "bootstrap"  # cluster-admin setup: schemas only (it runs no pods)
    if not overlays and bootstrap.is_dir():
        errors = kube.schema_errors(kube.render(bootstrap), params.delivery.kubernetes_version)
        for error in errors:
            click.echo(f"{bootstrap}: {error}", err=True)
        failed |= bool(errors)
        if not errors:
            click.echo(f"{bootstrap}: valid (Kubernetes {params.delivery.kubernetes_version} schemas)")
    if failed:
        sys.exit(1)
