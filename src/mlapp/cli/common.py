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
from mlapp.params import Params, load_params

# Every path option says whether it names a file or a folder: a folder where a file goes (or a
# file where a folder goes) is then click's usage error naming the option, before any work,
# instead of an IsADirectoryError traceback after it.
FileOption = click.Path(dir_okay=False, path_type=Path)
FolderOption = click.Path(file_okay=False, path_type=Path)
T = TypeVar("T")


def _field(setting: str) -> Any:
    """The pydantic field of a params setting named as in params.yaml (``delivery.sync_timeout_s``)."""
    model: Any = Params
    *sections, name = setting.split(".")
    for section in sections:
        model = model.model_fields[section].annotation
    return model.model_fields[name]


def _bounds(setting: str) -> dict[str, Any]:
    """A params setting's bounds (its pydantic gt/ge/lt/le) as click's range types take them."""
    bounds = {
        attr: getattr(limit, attr)
        for limit in _field(setting).metadata
        for attr in ("gt", "ge", "lt", "le")
        if getattr(limit, attr, None) is not None
    }
    low, high = bounds.get("gt", bounds.get("ge")), bounds.get("lt", bounds.get("le"))
    return {"min": low, "max": high, "min_open": "gt" in bounds, "max_open": "lt" in bounds}


def _range_words(bounded: click.IntRange | click.FloatRange) -> str:
    """A range in words: whole numbers as their ends ("1-21600", "1 or more"), others with their
    open ends said ("more than 0 and at most 604800")."""
    low, high = bounded.min, bounded.max
    if isinstance(bounded, click.IntRange):  # more than 0 is 1 or more
        low = None if low is None else low + bounded.min_open
        high = None if high is None else high - bounded.max_open
        if low is not None and high is not None:
            return f"{low}-{high}"
        return f"{low} or more" if high is None else f"at most {high}"
    ends = [
        f"{'more than' if bounded.min_open else 'at least'} {low:g}" if low is not None else "",
        f"{'less than' if bounded.max_open else 'at most'} {high:g}" if high is not None else "",
    ]
    return " and ".join(filter(None, ends))


def _out_of_range(bounded: click.IntRange | click.FloatRange, value: Any, setting: str) -> str:
    # click said "0.0 is not in the range 0<x<=21600.": not which setting the option overrides,
    # where that range comes from (and the one place to look it up).
    return f"{value}: must be {_range_words(bounded)} (the range of {setting})"


class _Seconds(click.FloatRange):
    """A time option overriding a params setting, bounded as that setting is. FloatRange lets nan
    (no comparison holds for it) and inf through, and a smoke test given nan was socket's
    ValueError traceback, given inf a retry that never ends."""

    def __init__(self, setting: str) -> None:
        super().__init__(**_bounds(setting))
        self.setting = setting

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except ValueError:  # `30s`, `6h`: click's own words were "is not a valid float range"
            self.fail(
                f"{value!r} is not a number of seconds: write them as a bare number (30, 1.5, 3600)",
                param,
                ctx,
            )
        if not math.isfinite(seconds):
            self.fail(f"{value} is not a number of seconds", param, ctx)
        try:
            return float(super().convert(value, param, ctx))
        except click.BadParameter:
            self.fail(_out_of_range(self, value, self.setting), param, ctx)


class _Count(click.IntRange):
    """A whole-number option overriding a params setting, bounded as that setting is."""

    def __init__(self, setting: str) -> None:
        super().__init__(**_bounds(setting))
        self.setting = setting

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return int(super().convert(value, param, ctx))
        except click.BadParameter:
            click.INT.convert(value, param, ctx)  # not a whole number: click's own words say so
            self.fail(_out_of_range(self, value, self.setting), param, ctx)


def seconds_of(setting: str) -> _Seconds:
    """The time option overriding ``setting``: `delivery wait --timeout 0` asked once and 1e9
    waited 31 years while delivery.sync_timeout_s refused both."""
    return _Seconds(setting)


def count_of(setting: str) -> _Count:
    """The whole-number option overriding ``setting``: `pipeline generate --rows -5` was numpy's
    traceback while sample_data.rows refused it."""
    return _Count(setting)


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
