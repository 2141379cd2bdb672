"""``mlapp delivery``: desired state on the deploy branch, waiting for reality, the cluster bootstrap.

GitOps mode (params ``delivery.mode``): commands write ``<env>/`` folders of the deploy branch
and Argo CD syncs them; push mode also applies them with ``kubectl --prune --applyset``.
See infra/README.md and docs/github-setup.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlapp.cli import delivery_repo
from mlapp.cli.common import FolderOption, Project, engine_option, http_url, pass_project, seconds_of


def _known_env(ctx: click.Context, _: click.Parameter, name: str) -> str:
    """A name params.yaml lists: a typo is said as such, not as "has never been deployed", and as a
    usage error before a fetch or any other work (--env of every command, promote's --to)."""
    if name not in (known := ctx.find_object(Project).params.delivery.environments):  # type: ignore[union-attr]
        raise click.BadParameter(f"unknown environment {name!r}: params has {known}")
    return name


def _model_folder(_ctx: click.Context, _: click.Parameter, path: Path | None) -> Path | None:
    """A named folder without a model would record a release with none: nothing to wait for or smoke."""
    from mlapp.model import MODEL_FILE  # lazy: pandas; deploy loads the model anyway

    if path is not None and not (path / MODEL_FILE).is_file():
        raise click.BadParameter(f"{path} holds no {MODEL_FILE}: name the folder the model was trained into")
    return path


env_option = click.option(
    "--env", "env", required=True, callback=_known_env, help="Environment [params: delivery.environments]."
)
push_option = click.option("--push", is_flag=True, help="Fetch the deploy branch first, push the new state.")
fetch_option = click.option("--fetch", is_flag=True, help="Fetch the deploy branch from the remote first.")
verify_option = click.option(
    "--verify-attestation",
    "verify",
    is_flag=True,
    help="Refuse an image without provenance attestation (gh).",
)
url_option = click.option(
    "--url",
    envvar="SERVICE_URL",
    default=None,
    callback=http_url,
    help="Service URL [env: SERVICE_URL; else a port-forward].",
)


@click.group("delivery")
def group() -> None:
    """Deploy, promote, roll back (commits on the deploy branch), wait, smoke, bootstrap, checks."""


for _command in delivery_repo.COMMANDS:  # image metadata, checks, GitHub setup: delivery_repo.py
    group.add_command(_command)


@group.command()
@env_option
@click.option("--image", required=True, envvar="IMAGE_REF", show_envvar=True, help="name@sha256:... to run.")
@click.option(
    "--model-dir",
    type=FolderOption,
    callback=_model_folder,
    help="The image's model [params: train.model_dir].",
)
@push_option
@verify_option
@pass_project
def deploy(project: Project, env: str, image: str, model_dir: Path | None, push: bool, verify: bool) -> None:
    """Render ENV's overlay with IMAGE's digest into ENV/ of the deploy branch (push mode: apply it)."""
    from mlapp.delivery import commands

    commands.deploy(project.params, env=env, image=image, model_dir=model_dir, push=push, verify=verify)


@group.command()
@click.option(
    "--to",
    "target",
    required=True,
    envvar="PROMOTE_TO",
    show_envvar=True,
    callback=_known_env,
    help="Target environment.",
)
@click.option(
    "--digest",
    envvar="PROMOTE_DIGEST",
    default=None,
    help="sha256:... verified in the previous environment, or 'current' [env: PROMOTE_DIGEST].",
)
@push_option
@verify_option
@pass_project
def promote(project: Project, target: str, digest: str | None, push: bool, verify: bool) -> None:
    """The digest (and manifests commit) that passed the previous environment, into TARGET."""
    from mlapp.delivery import commands

    commands.promote(project.params, target=target, digest=digest, push=push, verify=verify)


@group.command()
@env_option
@click.option(
    "--to-digest",
    envvar="ROLLBACK_DIGEST",
    default=None,
    help="A verified digest to return to [default: the previous one; env: ROLLBACK_DIGEST].",
)
@push_option
@verify_option
@pass_project
def rollback(project: Project, env: str, to_digest: str | None, push: bool, verify: bool) -> None:
    """A commit restoring ENV/ of the previous verified release: its image and its manifests."""
    from mlapp.delivery import commands

    commands.rollback(project.params, env=env, digest=to_digest or None, push=push, verify=verify)


@group.command()
@env_option
@url_option
@fetch_option
@click.option(
    "--timeout",
    type=seconds_of("delivery.sync_timeout_s"),
    help="Seconds [params: delivery.sync_timeout_s].",
)
@pass_project
def wait(project: Project, env: str, url: str | None, fetch: bool, timeout: float | None) -> None:
    """Until ENV serves the model its release records (output reachable=false when nothing can tell)."""
    from mlapp.delivery import cluster

    cluster.wait(project.params, env=env, url=url or None, fetch=fetch, timeout_s=timeout)


@group.command()
@env_option
@url_option
@fetch_option
@pass_project
def smoke(project: Project, env: str, url: str | None, fetch: bool) -> None:
    """`mlapp serving smoke` against ENV, expecting the model version its release records."""
    from mlapp.delivery import cluster
    from mlapp.serving.smoke import SmokeFailure

    try:
        cluster.smoke(project.params, env=env, url=url or None, fetch=fetch)
    except SmokeFailure as exc:  # a failed test is a "no" (exit 1), as `mlapp serving smoke` says it
        click.echo(f"FAIL smoke test against {env}: {exc}", err=True)
        sys.exit(1)


@group.command()
@env_option
@click.option(
    "--digest",
    envvar="IMAGE_DIGEST",
    default=None,
    help="The digest that passed the smoke test [env: IMAGE_DIGEST; default: what ENV runs].",
)
@push_option
@click.option("--no-registry", is_flag=True, help="Do not move the MLflow alias (bookkeeping only).")
@pass_project
def accept(project: Project, env: str, digest: str | None, push: bool, no_registry: bool) -> None:
    """After the smoke test: mark ENV's release verified and move the MLflow alias ENV."""
    from mlapp.delivery import commands

    commands.accept(project.params, env=env, digest=digest or None, push=push, registry=not no_registry)


@group.command()
@fetch_option
@pass_project
def status(project: Project, fetch: bool) -> None:
    """What each environment runs: digest, model, source commit, who deployed it; then the branch read.

    Exit 1 when an environment was edited by hand (never deployed is no failure)."""
    from mlapp.delivery import commands

    commands.status(project.params, fetch=fetch)


@group.command()
@click.option("--repo-url", help="Git URL Argo CD pulls [params: delivery.argocd.repo_url; else the remote].")
@click.option(
    "--dry-run", is_flag=True, help="Server-side dry run: the API server validates, nothing changes."
)
@pass_project
def bootstrap(project: Project, repo_url: str | None, dry_run: bool) -> None:
    """Namespaces + the Argo CD project and Applications, into a cluster that runs Argo CD."""
    from mlapp.delivery import cluster, kube

    with kube.cluster("set KUBECONFIG (or KUBE_CONFIG) to one that runs Argo CD") as config:
        cluster.bootstrap(project.params.delivery, repo_url, config, dry_run=dry_run)


@group.command("install-argocd")
@pass_project
def install_argocd(project: Project) -> None:
    """Argo CD at the version pinned in params (install.yaml checked against its sha256)."""
    from mlapp.delivery import cluster, kube

    with kube.cluster("set KUBECONFIG (or KUBE_CONFIG)") as config:
        cluster.install(project.params.delivery, config)


@group.command()
@click.option(
    "--image", "local_image", required=True, envvar="LOCAL_IMAGE", show_envvar=True, help="Local image tag."
)
@click.option(
    "--registry", default="kind-registry:5000", show_default=True, help="Registry the cluster pulls from."
)
@engine_option
@pass_project
def e2e(project: Project, local_image: str, registry: str, engine: str) -> None:
    """Deploy the local image by digest to the current (throwaway) cluster, wait, smoke test."""
    from mlapp.delivery import cluster

    cluster.e2e(project.params, local_image, registry=registry, engine=engine)
