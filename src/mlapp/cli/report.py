"""``mlapp report``: the pull-request report (champion vs challenger), its gate and PR comment."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlapp.cli.common import FileOption, FolderOption, Project, exit_with, pass_project, pick, summary_option


@click.group("report")
def group() -> None:
    """The PR report: base ref's model vs this tree's, the quality gate, the sticky PR comment."""


@group.command("run")
@click.option("--base", help="Champion's git ref [default: merge base of HEAD and report.default_base].")
@click.option("--out", "out_dir", type=FolderOption, help="Report folder [params: report.out_dir].")
@click.option("--no-gate", is_flag=True, help="Exit 0 whatever the gate says (CI runs `mlapp report gate`).")
@summary_option
@pass_project
def run_report(
    project: Project, base: str | None, out_dir: Path | None, no_gate: bool, summary: Path | None
) -> None:
    """Build the report on the same test rows; exit 1 if the gate fails."""
    from mlapp.report import run

    exit_with(
        run.main(
            project.params_path,
            base=base,
            out_dir=pick(out_dir, project.params.report.out_dir),
            enforce_gate=not no_gate,
            summary=summary,
        )
    )


@group.command()
@click.argument("report_json", type=FileOption, required=False)
@pass_project
def gate(project: Project, report_json: Path | None) -> None:
    """Quality gate of a written report: exit 1 when it failed [default: report.out_dir/report.json]."""
    from mlapp.report.gate import check

    exit_with(check(pick(report_json, project.params.report.out_dir / "report.json")))


@group.command()
@click.option("--repo", envvar="GITHUB_REPOSITORY", show_envvar=True, required=True, help="OWNER/NAME.")
@click.option("--run-id", required=True, type=int, help="The pr workflow run that built the report.")
@click.option(
    "--report", "report_md", type=FileOption, required=True, help="report.md from that run's artifact."
)
@pass_project
def comment(project: Project, repo: str, run_id: int, report_md: Path) -> None:
    """Post a downloaded PR report as the PR's one report comment (edited in place), as data."""
    from mlapp.report import github

    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    number = github.post(
        repo,
        run_id,
        report_md,
        run_url=f"{server}/{repo}/actions/runs/{run_id}",
        max_chars=project.params.report.max_chars,
    )
    if number is None:
        click.echo("no open pull request has this run's commit as its head: nothing to comment on", err=True)
    else:
        click.echo(f"report posted on pull request #{number} (one comment, edited in place)")
