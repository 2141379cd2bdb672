"""One command, one subcommand per job. dvc.yaml, Makefile, workflows and tests call these.

Options default to params.yaml; dvc.yaml passes paths explicitly so that each stage's
command names exactly its deps and outs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlapp.errors import UserError
from mlapp.params import load_params

PathOption = click.Path(path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params",
    "params_path",
    type=PathOption,
    default=Path("params.yaml"),
    show_default=True,
    help="params.yaml to read.",
)
@click.pass_context
def cli(ctx: click.Context, params_path: Path) -> None:
    """GitOps ML template: pipeline stages, registry, report and serving helpers."""
    ctx.obj = params_path


def _exit(code: int) -> None:
    if code:
        sys.exit(code)


@cli.command()
@click.option("--rows", type=int, help="Rows to generate [params: sample_data.rows].")
@click.option("--seed", type=int, help="Random seed [params: sample_data.seed].")
@click.option("--out", type=PathOption, help="CSV to write [params: data.raw].")
@click.pass_obj
def generate(params_path: Path, rows: int | None, seed: int | None, out: Path | None) -> None:
    """Write the synthetic churn sample table."""
    from mlapp import sample_data

    params = load_params(params_path)
    path = out or params.data.raw
    frame = sample_data.generate(
        rows or params.sample_data.rows, params.sample_data.seed if seed is None else seed
    )
    sample_data.write(frame, path)
    click.echo(f"wrote {len(frame)} rows to {path} (label rate {frame[params.data.label].mean():.3f})")


@cli.command()
@click.option("--input", "source", type=PathOption, help="Raw table [params: data.raw].")
@click.option("--output", type=PathOption, help="Typed table [params: validate.output].")
@click.option("--report", type=PathOption, help="Report JSON [params: validate.report].")
@click.pass_obj
def validate(params_path: Path, source: Path | None, output: Path | None, report: Path | None) -> None:
    """Stage 1: validate the raw table against the pandera schema."""
    from mlapp.stages import validate as stage

    _exit(stage.main(params_path, source, output, report))


@cli.command()
@click.option("--input", "source", type=PathOption, help="Validated table [params: validate.output].")
@click.option("--train", type=PathOption, help="Train table [params: split.train].")
@click.option("--test", type=PathOption, help="Test table [params: split.test].")
@click.pass_obj
def split(params_path: Path, source: Path | None, train: Path | None, test: Path | None) -> None:
    """Stage 2: seeded train/test split (stratified or by event time)."""
    from mlapp.stages import split as stage

    _exit(stage.main(params_path, source, train, test))


@cli.command()
@click.option("--input", "source", type=PathOption, help="Train table [params: split.train].")
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.pass_obj
def train(params_path: Path, source: Path | None, model_dir: Path | None) -> None:
    """Stage 3: train the XGBoost model (native format, no pickle)."""
    from mlapp.stages import train as stage

    _exit(stage.main(params_path, source, model_dir))


@cli.command()
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.option("--test", type=PathOption, help="Test table [params: split.test].")
@click.option("--metrics", type=PathOption, help="Metrics JSON [params: evaluate.metrics].")
@click.option("--plots-dir", type=PathOption, help="Plot data folder [params: evaluate.plots_dir].")
@click.option("--no-mlflow", is_flag=True, help="Skip logging the MLflow run.")
@click.pass_obj
def evaluate(
    params_path: Path,
    model_dir: Path | None,
    test: Path | None,
    metrics: Path | None,
    plots_dir: Path | None,
    no_mlflow: bool,
) -> None:
    """Stage 4: metrics + plot data on the test set; log the MLflow run."""
    from mlapp.stages import evaluate as stage

    _exit(stage.main(params_path, model_dir, test, metrics, plots_dir, not no_mlflow))


@cli.command()
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.option("--alias", "aliases", multiple=True, help="Alias to point at the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Extra version tag (repeatable).")
@click.pass_obj
def register(
    params_path: Path, model_dir: Path | None, aliases: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """Create an MLflow registry version from the current model, optionally set aliases."""
    from mlapp import tracking

    params = load_params(params_path)
    extra = dict(t.split("=", 1) for t in tags if "=" in t)
    bad = [t for t in tags if "=" not in t]
    if bad:
        raise click.BadParameter(f"expected KEY=VALUE, got {bad}", param_hint="--tag")
    version = tracking.register(params, model_dir or params.train.model_dir, list(aliases), extra)
    click.echo(
        f"registered {params.mlflow.model_name} version {version}"
        + (f" with aliases {', '.join(aliases)}" if aliases else "")
    )


def main() -> None:
    try:
        cli()
    except (UserError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
