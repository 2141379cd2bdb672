"""``mlapp template``: make the template your own project."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("template")
def group() -> None:
    """Adopt the template: rename it to your project."""


@group.command("init")
@click.argument("name")
def init_project(name: str) -> None:
    """Rename the template (package, CLI, image, MLflow model, k8s app) to NAME, in place.

    `make init NAME=...` also re-locks and re-syncs the environment afterwards.
    """
    from mlapp import template

    changed = template.rename(Path.cwd(), name)
    click.echo(
        f"renamed the template to {name!r} in {len(changed)} files; "
        "next: `uv lock && uv sync`, then `make test` and commit"
    )
