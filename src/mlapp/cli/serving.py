"""``mlapp serving``: run the BentoML service, build the bento and the image, smoke-test a service."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mlapp.cli.common import (
    FileOption,
    FolderOption,
    Project,
    count_of,
    engine_option,
    github_output_option,
    http_url,
    pass_project,
    pick,
    seconds_of,
)
from mlapp.errors import redact


@click.group("serving")
def group() -> None:
    """The BentoML service: serve from the source tree, build the bento, smoke-test a URL, batch-score."""


@group.command()
@click.option(
    "--port", type=count_of("serving.port"),
    help="Port [params: serving.port, `make serve PORT=...`; --smoke: a free one].",
)  # fmt: skip
@click.option(
    "--probe-port", type=count_of("serving.probe_port"),
    help="Port of the health probes [params: serving.probe_port; --smoke: a free one].",
)  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0 to expose it).")
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option(
    "--smoke", "smoke_only", is_flag=True,
    help="Start on --host, --port (default: a free one), smoke-test over HTTP, stop (make run's last step).",
)  # fmt: skip
@pass_project
def serve(
    project: Project,
    port: int | None,
    probe_port: int | None,
    host: str,
    model_dir: Path | None,
    smoke_only: bool,
) -> None:
    """Serve the current model with BentoML's server, from the source tree (as the image does)."""
    from mlapp.serving import service_command

    params = project.params
    if smoke_only:
        from mlapp.serving.local import serve_and_smoke
        from mlapp.serving.supervise import import_xgboost_without_sklearn

        import_xgboost_without_sklearn()  # this process reads the model only to predict the smoke test's

        model = pick(model_dir, params.train.model_dir)
        serve_and_smoke(
            project.params_path, params, model, click.echo, port=port, host=host, probe_port=probe_port
        )
        return
    port = pick(port, params.serving.port)
    argv, env = service_command(
        project.params_path, port=port, host=host, model_dir=model_dir, probe_port=probe_port
    )
    # Said before the server's own checks (model, port) run: "starting", not "serving".
    served = pick(model_dir, params.train.model_dir)
    click.echo(f"starting the server: {served}/ on http://{host}:{port}", err=True)
    os.execvpe(argv[0], argv, env)  # noqa: S606 - fixed argv: bentoml takes over this process


@group.command()
@click.option("--docker-context", type=FolderOption, help="Also export a docker build context here.")
@click.option("--print-path", is_flag=True, help="Print only the bento's path (default: KEY=VALUE lines).")
@pass_project
def bento(project: Project, docker_context: Path | None, print_path: bool) -> None:
    """Build the bento from models/ with lineage labels; print tag, path, versions (>> $GITHUB_OUTPUT)."""
    from mlapp.serving import bento as builder

    built = builder.build(project.params, docker_context=docker_context)
    if print_path:
        click.echo(built.path)
    else:
        click.echo("\n".join(f"{key}={value}" for key, value in built.outputs().items()))


@group.command()
@click.option(
    "--url", required=True, envvar="SMOKE_URL", show_envvar=True, callback=http_url, help="Service base URL."
)
@click.option("--expect-version", help="Model version the service must report [default: the local model's].")
@click.option("--model-dir", type=FolderOption, help="Local model to compare with [params: train.model_dir].")
@click.option(
    "--timeout",
    # What `make image` and `serve --smoke` wait for /readyz, bounded as it is: 0 was httpx's
    # "Operation now in progress", 1e9 a wait of 31 years.
    type=seconds_of("image.ready_timeout_s"),
    help="Seconds to wait for /readyz [params: image.ready_timeout_s].",
)
@pass_project
def smoke(
    project: Project, url: str, expect_version: str | None, model_dir: Path | None, timeout: float | None
) -> None:
    """After a deploy: health, predictions equal to the local model's, and the model version."""
    from mlapp.serving import smoke as check
    from mlapp.serving.supervise import import_xgboost_without_sklearn

    import_xgboost_without_sklearn()  # the model is read only to predict: no estimator classes
    try:
        check.run(
            url,
            pick(model_dir, project.params.train.model_dir),
            expect_version=expect_version,
            timeout_s=pick(timeout, project.params.image.ready_timeout_s),
            echo=click.echo,
        )
    except check.SmokeFailure as exc:
        click.echo(f"FAIL {exc}", err=True)
        sys.exit(1)
    click.echo(f"smoke test passed: {redact(url)}")


@group.command()
@click.option("--input", "source", required=True, help="CSV, TSV or Parquet to score: a path or a URL.")
@click.option("--output", type=FileOption, required=True, help="Parquet file for the predictions.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "tsv", "parquet"]), help="Input format [default: by name]."
)
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option(
    "--chunk-rows",
    type=count_of("serving.score_chunk_rows"),
    help="Rows per chunk [params: serving.score_chunk_rows].",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="COLUMN",
    help="Copy this input column into the output beside the scores (repeatable; data.id_column always is).",
)
@pass_project
def score(
    project: Project,
    source: str,
    output: Path,
    fmt: str | None,
    model_dir: Path | None,
    chunk_rows: int | None,
    keep: tuple[str, ...],
) -> None:
    """Batch-score a file with the model and schema the service uses; exit 1 if rows were rejected."""
    from mlapp.serving import score as scorer

    summary = scorer.run(project.params_path, source, output, model_dir, chunk_rows, fmt, keep)
    click.echo(scorer.describe(summary))
    for line in scorer.notes(summary):
        click.echo(line, err=True)
    if summary.rejected:
        click.echo(f"{summary.rejected} rows rejected by the schema: see {summary.rejects}", err=True)
        sys.exit(1)


@group.command()
@engine_option
@click.option("--no-run", is_flag=True, help="Build only: no container, no smoke test.")
@click.option(
    "--context-only", is_flag=True, help="Only write the build context (params: image.context) and stop."
)
@github_output_option
@pass_project
def image(
    project: Project, engine: str, no_run: bool, context_only: bool, github_output: Path | None
) -> None:
    """Build the serving image, run it on 127.0.0.1, smoke-test it, stop it (KEY=VALUE lines)."""
    from mlapp import gha
    from mlapp.image import build, context

    def progress(line: str) -> None:
        click.echo(line, err=True)  # stdout carries only the KEY=VALUE facts

    if context_only:
        ctx = context.prepare(project.params)
        values = {"context": str(ctx.path), "dockerfile": str(ctx.dockerfile), "pinned_base": ctx.base}
        values[context.EPOCH_ARG.lower()] = str(ctx.epoch)  # cd.yml: the registry build's SOURCE_DATE_EPOCH
    else:
        report = build.build_and_smoke(project.params, engine, run=not no_run, echo=progress)
        values = report.outputs()
    click.echo("\n".join(f"{key}={value}" for key, value in values.items()))
    gha.set_outputs(values, github_output)
    if not context_only:
        build.check_size(report, project.params)
