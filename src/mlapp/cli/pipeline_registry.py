"""``mlapp pipeline track|register``: the model's run in the MLflow tracking store and its
registry versions and aliases. ``pipeline.py`` adds them to its group, beside the stages.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlapp.cli.common import FolderOption, Project, pass_project, pick
from mlapp.errors import redact


@click.command()
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option("--alias", help="Also point this registry alias at the model's version (registered once).")
@pass_project
def track(project: Project, model_dir: Path | None, alias: str | None) -> None:
    """Make sure the tracking store has a run for the current model (logs one if missing)."""
    from mlapp import registry, tracking, tracking_failures

    params = project.params
    folder = pick(model_dir, params.train.model_dir)
    uri = tracking.connect(params.mlflow)
    unlogged = (  # what a run the server failed to log leaves: evaluate's "no outputs" is no stage's here
        "no complete run of this model was logged (one cut short is never reused). "
        f"Run `mlapp pipeline track` again {tracking_failures.ANSWERS}."
    )
    with tracking_failures.store_free(uri, "tracking the model", unlogged):
        run_id = tracking.ensure_run(params, folder)
        click.echo(f"MLflow run {run_id} at {redact(uri)}")
        if alias:
            version = registry.ensure_alias(params, folder, alias)
            click.echo(f"registry: {params.mlflow.model_name} version {version} is @{alias}")


def _key_values(tags: tuple[str, ...]) -> dict[str, str]:
    bad = [t for t in tags if "=" not in t]
    if bad:
        raise click.BadParameter(f"expected KEY=VALUE, got {bad}", param_hint="--tag")
    return dict(t.split("=", 1) for t in tags)


@click.command()
@click.option("--model-dir", type=FolderOption, help="Model folder [params: train.model_dir].")
@click.option("--alias", "aliases", multiple=True, help="Alias to point at the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Extra version tag (repeatable).")
@pass_project
def register(
    project: Project, model_dir: Path | None, aliases: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """Create an MLflow registry version from the current model, optionally set aliases."""
    from mlapp import registry, tracking_failures

    extra = _key_values(tags)
    params = project.params
    unlogged = (  # the run is logged before any version is made
        "nothing was registered (a run cut short is never reused). "
        f"Run `mlapp pipeline register` again {tracking_failures.ANSWERS}."
    )
    with tracking_failures.store_free(params.mlflow.resolved_tracking_uri(), unlogged=unlogged):
        version = registry.register(
            params, pick(model_dir, params.train.model_dir), aliases=list(aliases), extra_tags=extra
        )
    click.echo(
        f"registered {params.mlflow.model_name} version {version}"
        + (f" with aliases {', '.join(aliases)}" if aliases else "")
    )


COMMANDS = (track, register)
