"""``mlapp monitor``: drift and decay of recent data, Prometheus metrics, the retraining PR."""

from __future__ import annotations

from pathlib import Path

import click

from mlapp.cli.common import (
    FileOption,
    FolderOption,
    Project,
    exit_with,
    github_output_option,
    pass_project,
    pick,
    summary_option,
)

source_option = click.option(
    "--source",
    envvar="MONITOR_SOURCE",
    help="Batch to check: CSV, Parquet or JSONL prediction log; path or URL "
    "[env: MONITOR_SOURCE; params: monitor.source].",
)


@click.group("monitor")
def group() -> None:
    """Drift and decay checks of recent data, their metrics, and the retraining pull request."""


@group.command("run")
@source_option
@click.option("--json", "json_path", type=FileOption, help="JSON report [params: monitor.report_json].")
@click.option(
    "--markdown", "markdown_path", type=FileOption, help="Markdown report [params: monitor.report_markdown]."
)
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option("--exit-zero", is_flag=True, help="Exit 0 also when retraining is recommended; errors stay 2.")
@github_output_option
@summary_option
@pass_project
def run_monitor(
    project: Project,
    source: str | None,
    json_path: Path | None,
    markdown_path: Path | None,
    model_dir: Path | None,
    exit_zero: bool,
    github_output: Path | None,
    summary: Path | None,
) -> None:
    """Drift and decay of a batch vs the training reference. Exit 0 no action, 1 retrain, 2 error.

    Step outputs: retrain=true|false and status=...
    """
    from mlapp.monitor import run

    params = project.params
    exit_with(
        run.main(
            params,
            source=pick(source, params.monitor.source),
            json_path=pick(json_path, params.monitor.report_json),
            markdown_path=pick(markdown_path, params.monitor.report_markdown),
            model_dir=pick(model_dir, params.train.model_dir),
            exit_zero=exit_zero,
            github_output=github_output,
            summary=summary,
        )
    )


@group.command("has-source")
@source_option
@github_output_option
@summary_option
@pass_project
def has_source(
    project: Project, source: str | None, github_output: Path | None, summary: Path | None
) -> None:
    """Whether there is a batch to check; exit 0 either way (the retrain workflow's gate).

    Step output: ready=true|false; false also tells the job summary what to set.
    """
    from mlapp.monitor import run

    batch = pick(source, project.params.monitor.source)
    if run.has_source(batch, github_output=github_output, summary=summary):
        click.echo(f"monitor: batch to check: {batch}")
    else:
        click.echo(f"monitor: {run.NO_SOURCE}: skipped", err=True)


@group.command("metrics")
@click.option("--report", "report_json", type=FileOption, help="Report JSON [params: monitor.report_json].")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    required=True,
    help="Prometheus text file to write (atomically), or - for stdout.",
)
@pass_project
def metrics(project: Project, report_json: Path | None, out: str) -> None:
    """The last monitor report as Prometheus gauges (PSI per feature, ...) for Pushgateway or a textfile."""
    from mlapp import drift_metrics

    drift_metrics.write(pick(report_json, project.params.monitor.report_json), out)
    if out != "-":
        click.echo(f"wrote {out}", err=True)


@group.command("retrain-prepare")
@click.option(
    "--source",
    envvar="MONITOR_SOURCE",
    help="Batch with the fresh data [env: MONITOR_SOURCE; params: monitor.source].",
)
@click.option("--no-repro", is_flag=True, help="Only move the data pointer; leave retraining to the PR's CI.")
@github_output_option
@pass_project
def retrain_prepare(project: Project, source: str | None, no_repro: bool, github_output: Path | None) -> None:
    """Re-create the retraining branch from the base, refresh the data, retrain, commit.

    Step output: changed=true|false.
    """
    from mlapp.monitor import retrain as ct
    from mlapp.monitor.rows import MonitorError

    params = project.params
    fresh = pick(source, params.monitor.source)
    if not fresh and params.monitor.retrain.refresh != "import":
        raise MonitorError("no fresh data: pass --source PATH or set monitor.source in params.yaml")
    ct.prepare(params, fresh or "", reproduce=not no_repro, github_output=github_output)


@group.command("retrain-publish")
@pass_project
def retrain_publish(project: Project) -> None:
    """Force-push the retraining branch (skipped when the remote already holds the same files)."""
    from mlapp.monitor import retrain as ct

    ct.publish(project.params)


@group.command("retrain-pr")
@click.option("--body", type=FileOption, help="PR body (Markdown) [params: monitor.report_markdown].")
@pass_project
def retrain_pr(project: Project, body: Path | None) -> None:
    """Open the retraining pull request with `gh`, or update the open one."""
    from mlapp.monitor import retrain as ct

    params = project.params
    ct.open_pr(params, pick(body, params.monitor.report_markdown))
