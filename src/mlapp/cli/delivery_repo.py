"""``mlapp delivery`` commands about the repository rather than an environment: the image's
name, tags and labels, the workflow and manifest checks, and the GitHub settings the delivery
workflows need. ``delivery.py`` adds them to its group, beside the commands that change or read
an environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlapp.cli.common import FolderOption, Project, pass_project


@click.command("image-metadata")
@click.option("--repository", help="OWNER/NAME [default: GITHUB_REPOSITORY].")
@pass_project
def image_metadata(project: Project, repository: str | None) -> None:
    """Image name, tags (git SHA, model version) and lineage labels, as step outputs."""
    from mlapp.delivery import commands

    commands.image_metadata(project.params, repository=repository)


@click.command("check-workflows")
@click.option(
    "--dir", "workflows_dir", type=FolderOption, default=Path(".github/workflows"), show_default=True
)
@click.option(
    "--makefile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("Makefile"),
    show_default=True,
)
@pass_project
def check_workflows(project: Project, workflows_dir: Path, makefile: Path) -> None:
    """Workflow rules zizmor cannot know: one existing project command per step, environments of params."""
    from mlapp.cli import command_tree  # the root group imports this module first
    from mlapp.workflows import check_all

    findings = check_all(workflows_dir, makefile, command_tree(), project.params.delivery.environments)
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        sys.exit(1)
    click.echo(f"{workflows_dir}: workflow rules OK")


@click.command("check-manifests")
@pass_project
def check_manifests(project: Project) -> None:
    """Every overlay, the bootstrap and the Argo CD objects, validated offline."""
    from mlapp.delivery import commands

    commands.check_manifests(project.params)


@click.command("github-setup")
@click.option("--repo", help="OWNER/NAME [default: GITHUB_REPOSITORY or the origin remote].")
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    metavar="user:LOGIN|team:ORG/SLUG",
    help="Required reviewer of every environment after the first (repeatable).",
)
@click.option("--check", "checks", multiple=True, help="Required status check [default: ci.yml job names].")
@click.option("--allow-actions-prs", is_flag=True, help="Let the job token open PRs.")
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Send the requests (GH_TOKEN: an admin's token) [default: print].",
)
@pass_project
def github_setup(
    project: Project,
    repo: str | None,
    reviewers: tuple[str, ...],
    checks: tuple[str, ...],
    allow_actions_prs: bool,
    do_apply: bool,
) -> None:
    """Environments (from params), rulesets, token defaults, Dependabot (docs/github-setup.md): REST API."""
    from mlapp.delivery import github

    github.setup(project.params.delivery, repo, reviewers, checks, do_apply, allow_actions_prs)


COMMANDS = (image_metadata, check_workflows, check_manifests, github_setup)
