"""``mlapp pipeline``: the DVC stages (dvc.yaml runs these) and MLflow bookkeeping."""

from __future__ import annotations

from pathlib import Path

import click

from mlapp.cli import pipeline_registry
from mlapp.cli.common import (
    FileOption,
    FolderOption,
    Project,
    count_of,
    exit_with,
    pass_project,
    pick,
    seconds_of,
)


@click.group("pipeline")
def group() -> None:
    """The DVC stages (validate, split, train, evaluate), sample data and MLflow registry."""


for _command in pipeline_registry.COMMANDS:  # track, register: pipeline_registry.py
    group.add_command(_command)


@group.command()
@click.option("--rows", type=count_of("sample_data.rows"), help="Rows [params: sample_data.rows].")
@click.option("--seed", type=count_of("sample_data.seed"), help="Seed [params: sample_data.seed].")
@click.option("--out", type=FileOption, help="CSV to write [params: data.raw].")
@click.option(
    "--new-customers",
    is_flag=True,
    help="Number the customer ids after the sample's (from sample_data.rows): a batch of other "
    "customers, which retraining adds to the table instead of replacing the sample's rows of the same id.",
)
@pass_project
def generate(
    project: Project, rows: int | None, seed: int | None, out: Path | None, new_customers: bool
) -> None:
    """Write the synthetic sample table."""
    from mlapp import sample_data
    from mlapp.errors import UserError
    from mlapp.schema import FEATURES
    from mlapp.sources import unnamed_format

    params = project.params
    path = pick(out, params.data.raw)
    if problem := unnamed_format(path):
        raise UserError(problem)
    sep = params.data.separator(path)
    frame = sample_data.generate(
        pick(rows, params.sample_data.rows),
        pick(seed, params.sample_data.seed),
        first_id=params.sample_data.rows if new_customers else 0,
    )
    sample_data.check_replaceable(frame, path, sep)
    lacking = [name for name in FEATURES if name not in frame.columns]
    if lacking:  # your own data: a churn batch would only fail the monitor's checks
        raise UserError(
            f"the synthetic sample is the churn table: it lacks {len(lacking)} of your features "
            f"({', '.join(lacking[:5])}{', …' if len(lacking) > 5 else ''}) "
            "(src/mlapp/schema.py); monitor a batch of your own data: make monitor SOURCE=<file>"
        )
    sample_data.write(frame, path, sep, params.data.decimal)
    click.echo(f"wrote {len(frame)} rows to {path} (label rate {frame[sample_data.LABEL].mean():.3f})")


def _one_off(given: Path | None, pipelines: Path) -> bool:
    """Whether an input option names another file than the pipeline's (params.yaml's): a one-off
    run, which must not replace the pipeline's outputs (DVC tracks them: `dvc status` would then
    call the stage changed, and the next `dvc repro` would build on another table's results)."""
    return given is not None and given.resolve() != pipelines.resolve()


def _outputs_named(given: Path | None, pipelines: Path, key: str, outputs: dict[str, Path | None]) -> None:
    """A one-off split or train must say where its outputs go: they are its whole result, and the
    defaults are the pipeline's."""
    missing = [option for option, path in outputs.items() if path is None]
    if _one_off(given, pipelines) and missing:
        raise click.UsageError(
            f"--input is not {key} ({pipelines}): a one-off run writes only where you say; "
            f"give {' and '.join(missing)} too"
        )


ONE_OFF = "with another --input than params.yaml's, written only if given"
NEEDED = "another --input: required"
EVALUATED = "another --model-dir or --test: written only if given"


@group.command()
@click.option("--input", "source", type=FileOption, help="Raw table [params: data.raw].")
@click.option("--output", type=FileOption, help=f"Typed table [params: validate.output; {ONE_OFF}].")
@click.option("--report", type=FileOption, help=f"Report JSON [params: validate.report; {ONE_OFF}].")
@pass_project
def validate(project: Project, source: Path | None, output: Path | None, report: Path | None) -> None:
    """Stage 1: validate the raw table against the pandera schema.

    Another --input than data.raw is a one-off check: its result is printed, and the table and
    report are written only where --output and --report say (the pipeline's stay as they are).
    """
    from mlapp.stages import validate as stage

    params = project.params
    one_off = _one_off(source, params.data.raw)
    exit_with(
        stage.run(
            params,
            source=pick(source, params.data.raw),
            output=output if one_off else pick(output, params.validate_.output),
            report=report if one_off else pick(report, params.validate_.report),
        )
    )


@group.command()
@click.option("--input", "source", type=FileOption, help="Validated table [params: validate.output].")
@click.option("--train", type=FileOption, help=f"Train table [params: split.train; {NEEDED}].")
@click.option("--test", type=FileOption, help=f"Test table [params: split.test; {NEEDED}].")
@pass_project
def split(project: Project, source: Path | None, train: Path | None, test: Path | None) -> None:
    """Stage 2: seeded train/test split (split.method: hash of the id, stratified, or time).

    Another --input than validate.output needs --train and --test (the pipeline's stay as they are).
    """
    from mlapp.stages import split as stage

    params = project.params
    _outputs_named(source, params.validate_.output, "validate.output", {"--train": train, "--test": test})
    exit_with(
        stage.run(
            params,
            source=pick(source, params.validate_.output),
            train_path=pick(train, params.split.train),
            test_path=pick(test, params.split.test),
        )
    )


@group.command()
@click.option("--input", "source", type=FileOption, help="Train table [params: split.train].")
@click.option("--model-dir", type=FolderOption, help=f"Model folder [params: train.model_dir; {NEEDED}].")
@pass_project
def train(project: Project, source: Path | None, model_dir: Path | None) -> None:
    """Stage 3: train the XGBoost model (native format, no pickle).

    Another --input than split.train needs --model-dir (the pipeline's model stays as it is).
    """
    from mlapp.stages import train as stage

    params = project.params
    _outputs_named(source, params.split.train, "split.train", {"--model-dir": model_dir})
    exit_with(
        stage.run(
            params,
            source=pick(source, params.split.train),
            model_dir=pick(model_dir, params.train.model_dir),
        )
    )


@group.command()
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option("--test", type=FileOption, help="Test table [params: split.test].")
@click.option("--metrics", type=FileOption, help=f"Metrics JSON [params: evaluate.metrics; {EVALUATED}].")
@click.option("--plots-dir", type=FolderOption, help=f"Plot data [params: evaluate.plots_dir; {EVALUATED}].")
@click.option("--no-mlflow", is_flag=True, help="Skip logging the MLflow run.")
@pass_project
def evaluate(
    project: Project,
    model_dir: Path | None,
    test: Path | None,
    metrics: Path | None,
    plots_dir: Path | None,
    no_mlflow: bool,
) -> None:
    """Stage 4: metrics + plot data on the test set; log the MLflow run.

    Another --model-dir or --test than params.yaml's is a one-off check: its metrics are printed,
    written only where --metrics and --plots-dir say, and no MLflow run is logged (the registry
    would take it for the model's run).
    """
    from mlapp.stages import evaluate as stage

    params = project.params
    one_off = _one_off(model_dir, params.train.model_dir) or _one_off(test, params.split.test)
    exit_with(
        stage.run(
            params,
            model_dir=pick(model_dir, params.train.model_dir),
            test_path=pick(test, params.split.test),
            metrics_path=metrics if one_off else pick(metrics, params.evaluate.metrics),
            plots_dir=plots_dir if one_off else pick(plots_dir, params.evaluate.plots_dir),
            log_to_mlflow=not (no_mlflow or one_off),
        )
    )
    if one_off and not no_mlflow:
        click.echo("no MLflow run: another --model-dir or --test than params.yaml's is a one-off check")


@group.command()
@click.option("--input", "source", type=FileOption, help="Training part of the split [params: split.train].")
@click.option("--trials", type=count_of("tune.trials"), help="Most trials [params: tune.trials].")
@click.option(
    "--timeout",
    type=seconds_of("tune.timeout_s"),
    help="No new trial after this many seconds [params: tune.timeout_s].",
)
@pass_project
def tune(project: Project, source: Path | None, trials: int | None, timeout: float | None) -> None:
    """Optuna search on train's validation rows (never test); best values into params.yaml."""
    from mlapp import tune as search

    params = project.params
    update = {"trials": pick(trials, params.tune.trials), "timeout_s": pick(timeout, params.tune.timeout_s)}
    params = params.model_copy(update={"tune": params.tune.model_copy(update=update)})
    result = search.search(params, pick(source, params.split.train))
    click.echo(
        f"{result.trials} trials (MLflow parent run {result.parent_run_id}); "
        f"best validation {params.tune.metric} {result.best_value:.4f}"
        + ("" if result.current_value is None else f" (the current values: {result.current_value:.4f})")
    )
    if result.refused:  # the train stage would have refused these trials' values
        click.echo(
            f"note: {result.refused} trial(s) not scored: train would refuse their min_child_weight at "
            "train.huber_slope (pseudo-Huber's curvature too small to split); narrow "
            "tune.space.min_child_weight"
        )
    if cap := result.capped_at:  # early stopping never stopped the best trial: more trees may help
        click.echo(
            f"note: the best trial grew all {cap} trees (train.xgboost.n_estimators) and still improved; "
            f"add `n_estimators: [{cap}, {cap * 4}]` to tune.space, or raise it"
        )
    changed = search.write_best(project.params_path, result.best_params)
    for line in changed or ["no change: the current values are the best found"]:
        click.echo(f"  {line}")
    if changed:  # `uv run`: README's form; a shell without the venv activated has no `dvc`
        click.echo(
            f"review with `git diff {project.params_path}`, then `uv run dvc repro` and open a pull request"
        )
