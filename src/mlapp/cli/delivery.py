"""``mlapp delivery``: build once, deploy by digest, promote, roll back; repository checks.

Bookkeeping lives on the deploy branch (mlapp/delivery/state.py); --push syncs it with the
remote, --apply also runs `kubectl apply` + rollout status. See infra/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlapp.cli.common import PathOption, Project, github_output_option, pass_project, pick

env_option = click.option("--env", "env", required=True, help="Environment [params: delivery.environments].")
push_option = click.option("--push", is_flag=True, help="Fetch the deploy branch first, push the new state.")
apply_option = click.option("--apply", "do_apply", is_flag=True, help="Also kubectl apply + rollout status.")
verify_option = click.option(
    "--verify-attestation", "verify", is_flag=True, help="Refuse an image without attestation (gh)."
)
fetch_option = click.option("--fetch", is_flag=True, help="Fetch the deploy branch from the remote first.")


@click.group("delivery")
def group() -> None:
    """Environments on the deploy branch (deploy, promote, rollback, accept) and repository checks."""


@group.command()
@env_option
@click.option("--image", required=True, envvar="IMAGE_REF", help="name@sha256:... to run [env: IMAGE_REF].")
@click.option("--source-commit", help="Commit the image was built from [default: GITHUB_SHA or HEAD].")
@click.option("--model-dir", type=PathOption, help="The image's model [params: train.model_dir].")
@push_option
@apply_option
@verify_option
@pass_project
def deploy(
    project: Project, env: str, image: str, source_commit: str | None, model_dir: Path | None,
    push: bool, do_apply: bool, verify: bool,
) -> None:  # fmt: skip
    """Record that ENV runs IMAGE (manifests of HEAD, digest-pinned) on the deploy branch."""
    from mlapp.delivery import commands

    commands.deploy(
        project.params, env=env, image=image, source_commit=source_commit, model_dir=model_dir,
        push=push, apply=do_apply, verify=verify,
    )  # fmt: skip


@group.command()
@click.option("--to", "target", default=None, help="Target environment [default: the last one].")
@click.option("--from", "source", default=None, help="Source environment [default: the one before --to].")
@click.option(
    "--digest", envvar="PROMOTE_DIGEST", default=None,
    help="sha256:... that passed the source env, or 'current' for its latest verified [env: PROMOTE_DIGEST].",
)  # fmt: skip
@push_option
@apply_option
@verify_option
@pass_project
def promote(
    project: Project, target: str | None, source: str | None, digest: str | None,
    push: bool, do_apply: bool, verify: bool,
) -> None:  # fmt: skip
    """Deploy to the next environment the exact image that passed the previous one."""
    from mlapp.delivery import commands

    params = project.params
    commands.promote(
        params, target=pick(target, params.delivery.environments[-1]), source=source, digest=digest,
        push=push, apply=do_apply, verify=verify,
    )  # fmt: skip


@group.command()
@env_option
@click.option(
    "--to-digest",
    envvar="ROLLBACK_DIGEST",
    default=None,
    help="Go back to this verified digest [default: the previous one; env: ROLLBACK_DIGEST].",
)
@push_option
@apply_option
@verify_option
@pass_project
def rollback(
    project: Project, env: str, to_digest: str | None, push: bool, do_apply: bool, verify: bool
) -> None:
    """Restore ENV's previous verified release (image and manifests) from the deploy branch."""
    from mlapp.delivery import commands

    commands.rollback(
        project.params, env=env, digest=to_digest or None, push=push, apply=do_apply, verify=verify
    )


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
    """After a passed smoke test: mark ENV's release verified and move the MLflow alias ENV."""
    from mlapp.delivery import commands

    commands.accept(project.params, env=env, digest=digest or None, push=push, registry=not no_registry)


@group.command()
@fetch_option
@pass_project
def status(project: Project, fetch: bool) -> None:
    """What each environment runs: digest, model, source commit, who deployed it."""
    from mlapp.delivery import commands

    commands.status(project.params, fetch=fetch)


@group.command()
@env_option
@click.option(
    "--url",
    envvar="SERVICE_URL",
    default=None,
    help="Service URL [env: SERVICE_URL; default: kubectl port-forward to the Service].",
)
@fetch_option
@pass_project
def smoke(project: Project, env: str, url: str | None, fetch: bool) -> None:
    """`mlapp serving smoke` against ENV, expecting the model version its release record names."""
    from mlapp.delivery import commands

    commands.smoke_env(project.params, project.params_path, env=env, url=url or None, fetch=fetch)


@group.command("image-metadata")
@click.option("--repository", help="OWNER/NAME [default: GITHUB_REPOSITORY].")
@github_output_option
@pass_project
def image_metadata(project: Project, repository: str | None, github_output: Path | None) -> None:
    """Image name, tags (git SHA, model version) and lineage labels for the image build."""
    from mlapp.delivery import commands

    commands.image_metadata(project.params, repository=repository, github_output=github_output)


@group.command("release-notes")
@env_option
@click.option("--out", type=PathOption, help="Write the model card here (default: print it).")
@click.option("--publish", is_flag=True, help="Record it as a GitHub release (gh release create).")
@fetch_option
@pass_project
def release_notes(project: Project, env: str, out: Path | None, publish: bool, fetch: bool) -> None:
    """The model card of ENV's release: metrics, lineage, the PR it came from."""
    from mlapp.delivery import commands

    commands.release_notes(project.params, env=env, out=out, publish=publish, fetch=fetch)


@group.command("check-workflows")
@click.option("--dir", "workflows_dir", type=PathOption, default=Path(".github/workflows"), show_default=True)
@click.option("--makefile", type=PathOption, default=Path("Makefile"), show_default=True)
def check_workflows(workflows_dir: Path, makefile: Path) -> None:
    """The repository's workflow rules (pins, permissions, thin steps that exist, deploy concurrency)."""
    from mlapp.cli import command_tree  # the root group imports this module first
    from mlapp.delivery.workflows import check_all

    findings = check_all(workflows_dir, makefile, command_tree())
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        sys.exit(1)
    click.echo(f"{workflows_dir}: workflow rules OK")


@group.command("check-manifests")
@click.argument("overlays", nargs=-1, type=PathOption)
@pass_project
def check_manifests(project: Project, overlays: tuple[Path, ...]) -> None:
    """Render each overlay (default: every environment) and validate it offline."""
    from mlapp.delivery import commands

    commands.check_manifests(project.params, overlays)


@group.command("github-setup")
@click.option("--repo", help="OWNER/NAME [default: GITHUB_REPOSITORY or the origin remote].")
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    metavar="user:LOGIN|team:ORG/SLUG",
    help="Required reviewer for production (repeatable).",
)
@click.option("--check", "checks", multiple=True, help="Required status check [default: ci.yml job names].")
@click.option("--allow-actions-prs", is_flag=True, help="Let the job token open PRs.")
@click.option("--apply", "do_apply", is_flag=True, help="Send the requests with `gh api` [default: print].")
@pass_project
def github_setup(
    project: Project, repo: str | None, reviewers: tuple[str, ...], checks: tuple[str, ...],
    allow_actions_prs: bool, do_apply: bool,
) -> None:  # fmt: skip
    """Environments, protection rules and rulesets of docs/github-setup.md, via `gh api`."""
    from mlapp.delivery import setup

    setup.main(
        project.params, repo=repo, reviewers=reviewers, checks=checks, apply=do_apply,
        allow_actions_prs=allow_actions_prs,
    )  # fmt: skip
