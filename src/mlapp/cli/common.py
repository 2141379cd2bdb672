"""What every command group shares: the project (params.yaml, read once) and option types."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click

from mlapp.gha import OUTPUT_ENV, SUMMARY_ENV
from mlapp.params import Params, Section, load_params

# Every path option says whether it names a file or a folder: a folder where a file goes (or a
# file where a folder goes) is then click's usage error naming the option, before any work,
# instead of an IsADirectoryError traceback after it.
FileOption = click.Path(dir_okay=False, path_type=Path)
FolderOption = click.Path(file_okay=False, path_type=Path)
T = TypeVar("T")


class Seconds(click.FloatRange):
    """A time option: FloatRange lets nan (no comparison holds for it) and inf through, and a
    smoke test given nan was socket's ValueError traceback, given inf a retry that never ends."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            float(value)
        except ValueError:  # `30s`, `6h`: click's own words were "is not a valid float range"
            self.fail(
                f"{value!r} is not a number of seconds: write them as a bare number (30, 1.5, 3600)",
                param,
                ctx,
            )
        seconds: float = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a number of seconds", param, ctx)
        return seconds


def _bounds(section: type[Section], name: str) -> dict[str, Any]:
    """A params setting's bounds (its pydantic gt/ge/lt/le) as click's range types take them."""
    bounds = {
        attr: getattr(limit, attr)
        for limit in section.model_fields[name].metadata
        for attr in ("gt", "ge", "lt", "le")
        if getattr(limit, attr, None) is not None
    }
    low, high = bounds.get("gt", bounds.get("ge")), bounds.get("lt", bounds.get("le"))
    return {"min": low, "max": high, "min_open": "gt" in bounds, "max_open": "lt" in bounds}


def seconds_of(section: type[Section], name: str) -> Seconds:
    """The time option overriding a params setting, bounded as that setting is: `delivery wait
    --timeout 0` asked once and 1e9 waited 31 years while delivery.sync_timeout_s refused both."""
    return Seconds(**_bounds(section, name))


def count_of(section: type[Section], name: str) -> click.IntRange:
    """The whole-number option overriding a params setting, bounded as that setting is:
    `pipeline generate --rows -5` was numpy's traceback while sample_data.rows refused it."""
    return click.IntRange(**_bounds(section, name))


@dataclass
class Project:
    """The root group's ``--params``; ``params`` parses it on first use (``--help`` never does)."""

    params_path: Path

    @cached_property
    def params(self) -> Params:
        return load_params(self.params_path)


pass_project = click.make_pass_decorator(Project)


def pick(override: T | None, default: T) -> T:
    """An option given on the command line wins over params.yaml (the one place defaults live)."""
    return default if override is None else override


def http_url(_: click.Context, param: click.Parameter, url: str | None) -> str | None:
    """A service URL with its scheme: `localhost:3000` would fail every probe, said as a failed
    smoke test (exit 1, the documented "no") instead of the usage error it is."""
    if url and not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not a service URL: write http://HOST:PORT or https://HOST")
    return url


def exit_with(code: int) -> None:
    if code:
        sys.exit(code)


# The same two options on every command that reports to a GitHub Actions run: explicit path,
# else the runner's variable, else nothing (mlapp.gha resolves it).
github_output_option = click.option(
    "--github-output",
    type=FileOption,
    envvar=OUTPUT_ENV,
    help=f"Append step outputs to this file [env: {OUTPUT_ENV}].",
)
summary_option = click.option(
    "--summary",
    type=FileOption,
    envvar=SUMMARY_ENV,
    help=f"Also append the Markdown to this file [env: {SUMMARY_ENV}].",
)

# The container engine of every command that drives one (`make image`, `make e2e`): one detection
# (mlapp.image.engine.detect), so a machine with podman and no docker engine uses podman for both.
engine_option = click.option(
    "--engine",
    type=click.Choice(["auto", "docker", "podman"]),
    default="auto",
    show_default=True,
    envvar="MLAPP_IMAGE_ENGINE",
    help="auto: docker when `docker info` answers, else podman [env: MLAPP_IMAGE_ENGINE].",
)
