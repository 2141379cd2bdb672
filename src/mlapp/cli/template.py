"""``mlapp template``: make the template your own project."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlapp.cli.common import FileOption, Project, pass_project
from mlapp.errors import UserError
from mlapp.outputs import id_clash
from mlapp.params import Params
from mlapp.sources import is_parquet

if TYPE_CHECKING:  # the drafting modules load with the command, not with every CLI call
    from mlapp.schema_draft import Feature


@click.group("template")
def group() -> None:
    """Adopt the template: rename it to your project, draft the schema of your table."""


@group.command("init")
@click.argument("name")
# `make init` re-locks and re-syncs after the rename and then says what is next itself: the
# steps printed here would be done by the time they are read.
@click.option("--next/--no-next", "steps", default=True, help="Print the steps left after the rename.")
def init_project(name: str, steps: bool) -> None:
    """Rename the template (package, CLI, image, MLflow model, k8s app) to NAME, in place.

    `make init NAME=...` also re-locks and re-syncs the environment afterwards.
    """
    from mlapp import template

    changed = template.rename(Path.cwd(), name)
    if marked := template.fit_lint(Path.cwd()):
        click.echo(f"ruff: {marked} string or comment line(s) the new name lengthened marked `# noqa: E501`")
    after = "; next: `uv lock && uv sync`, then `make test` and commit" if steps else ""
    click.echo(f"renamed the template to {name!r} in {len(changed)} files{after}")


@group.command("schema")
@click.argument("table", required=False, type=FileOption)
@click.option("--write", is_flag=True, help="Replace FEATURES in schema.py instead of printing it.")
@pass_project
def draft_schema(project: Project, table: Path | None, write: bool) -> None:
    """Draft schema.py's FEATURES from TABLE (default: data.raw), read as validate reads it.

    Set `data:` in params.yaml first (label, id and time columns, separator, missing cells):
    those columns are left out. Review the draft: ranges are twice the furthest values seen.
    """
    from mlapp import schema, schema_draft, schema_render

    params = project.params
    source = table or params.data.raw
    frame, spelt = schema_draft.read(source, params.data, params.validate_.chunk_rows)
    features = schema_draft.draft(frame, params.data, params.validate_, params.task)
    if all(f.skip for f in features):  # an empty FEATURES validated, then train met no column
        for f in features:
            click.echo(f"left out {f.name!r}: {f.skip}", err=True)
        raise UserError(
            f"no column of {source} is left as a feature (data.label, id_column, time_column, "
            "group_column and ignore_columns name none; any other is said above): a model needs one"
        )
    block = schema_render.render(features)
    if not write:
        click.echo(block, nl=False)
    else:
        target = Path(schema.__file__).resolve()
        if not target.is_relative_to(Path.cwd().resolve()):  # an installed copy, not the project's
            raise click.ClickException(f"{target} is not in this project: run from the project's root")
        schema_render.write(target, block)
        click.echo(f"wrote FEATURES ({sum(not f.skip for f in features)} features) into {target}")
    for f in (f for f in features if f.skip):
        click.echo(f"left out {f.name!r}: {f.skip}", err=True)
    warnings = [
        *_missing_words(features, spelt),
        *_placeholders(features, is_parquet(source)),
        *_open_categories(features, frame),
        *_spaced_names(features),
        *_scorer_clashes([f.name for f in features if "data.id_column" in f.skip], frame, params),
    ]
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    click.echo(
        "next: review the ranges (twice the furthest values seen) and categories, then "
        "`uv run dvc add data && uv run dvc repro`",
        err=True,
    )


def _missing_words(features: list[Feature], spelt: dict[str, dict[str, int]]) -> list[str]:
    """Words data.missing_values made missing in a column drafted as other than a number, where
    they may have been values. A column left out for another cause than its missing values (free
    text, a date) is said once, by that cause: its words change nothing."""
    lines = []
    drafted = [f for f in features if f.name in spelt and not f.call.startswith("_number")]
    for f in (f for f in drafted if f.emptied or not f.skip):
        cells = ", ".join(f"{word!r} in {n:,} rows" for word, n in spelt[f.name].items())
        lines.append(
            f"{f.name!r}: {cells} read as missing (data.missing_values); if it is a value "
            "(NA: North America), remove it from that list and draft again"
        )
    return lines


def _placeholders(features: list[Feature], parquet: bool) -> list[str]:
    """One line per mark drafted as missing, naming its columns: validate refuses the mark until
    the file or params.yaml says it is missing."""
    # data.missing_values reads a CSV's cells only: in Parquet a missing value is a null.
    fix = "write it as null in the file" if parquet else "add it to data.missing_values (params.yaml)"
    marked: dict[str, list[str]] = {}
    for f in features:
        for mark in f.placeholders:
            marked.setdefault(mark, []).append(repr(f.name))
    return [
        f"{mark!r} in {', '.join(names)} drafted as missing (a placeholder, or a word among "
        f"numbers): if it marks a missing value, {fix}; validate refuses it until then"
        for mark, names in marked.items()
    ]


def _open_categories(features: list[Feature], frame: Any) -> list[str]:
    """Categories whose new rows would often bring a level not listed (``_new_levels``)."""
    return [
        f"{f.name!r}: {len(f.levels):,} levels, about {share:.0%} of new rows would bring "
        "one not listed, which validate and the service refuse: group rare levels in the export, "
        "or data.ignore_columns"
        for f in features
        if f.call == "_category(" and (share := _new_levels(frame[f.name])) >= NEW_LEVELS
    ]


def _spaced_names(features: list[Feature]) -> list[str]:
    # A CSV's leading space is dropped (after a separator, as read_csv drops it); a trailing one stays.
    return [
        f"{f.name!r} has a space around it: requests and every later file must name it so; "
        f"rename the column to {f.name.strip()!r} in the file and draft again"
        for f in features
        if f.name != f.name.strip() and not f.skip
    ]


def _scorer_clashes(candidates: list[str], frame: Any, params: Params) -> list[str]:
    """data.id_column, and the columns the draft suggests it be, named like a column the batch
    scorer writes: validate refuses such an id, so it is renamed before the team trains on it."""
    data = params.data
    classes = data.classes or []
    if not classes and params.task == "multiclass":  # the model's: the label's values, as findings does
        classes = sorted(frame[data.label].dropna().astype(str).unique())
    lines = []
    if clash := id_clash(data.id_column, params.task, classes):
        lines.append(f"data.id_column {data.id_column!r}: {clash}")
    for name in candidates:
        if clash := id_clash(name, params.task, classes):
            lines.append(f"{name!r}, if it becomes data.id_column: {clash}")
    return lines


NEW_LEVELS = 0.01  # a category whose next row brings an unlisted level this often is refused that often
ONCE = 10  # fewer levels seen once estimate nothing (a small table's one rare level)


def _new_levels(values: Any) -> float:
    """The share of new rows expected to bring a level not seen here (Good-Turing: the levels seen
    once, over the rows): 5,000 merchants drawn 10,000 times leave ~1,350 seen once, 13.5%."""
    counts = values.dropna().astype(str).value_counts()
    once = int((counts == 1).sum())
    return once / int(counts.sum()) if once >= ONCE else 0.0
