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
from mlapp.params_words import Allowed, allowed_at, must_be, range_words

# Every path option says whether it names a file or a folder: a folder where a file goes (or a
# file where a folder goes) is then click's usage error naming the option, before any work,
# instead of an IsADirectoryError traceback after it.
FileOption = click.Path(dir_okay=False, path_type=Path)
FolderOption = click.Path(file_okay=False, path_type=Path)
T = TypeVar("T")


def _allowed(setting: str) -> Allowed:
    """What a params setting named as in params.yaml (``delivery.sync_timeout_s``) takes."""
    allowed = allowed_at(Params, setting.split("."))
    if allowed is None:
        raise ValueError(f"{setting} is not a setting of params.yaml")  # a typo in this package
    return allowed


def _click_bounds(allowed: Allowed) -> dict[str, Any]:
    """A setting's bounds (its pydantic gt/ge/lt/le) as click's range types take them."""
    return {
        "min": allowed.ge if allowed.gt is None else allowed.gt,
        "max": allowed.le if allowed.lt is None else allowed.lt,
        "min_open": allowed.gt is not None,
        "max_open": allowed.lt is not None,
    }


class _Bounded:
    """A number option (a click range type after this in the bases) bounded as the params setting
    it overrides is, saying so in its words."""

    def __init__(self, setting: str) -> None:
        self.setting, self.allowed = setting, _allowed(setting)
        super().__init__(**_click_bounds(self.allowed))

    def _describe_range(self) -> str:  # --help's [0<x<=21600]: the refusal's words instead
        return range_words(self.allowed)

    def _refused(self, value: Any, of_kind: bool = False) -> str:
        # click said "0.0 is not in the range 0<x<=21600.": not which setting the option overrides,
        # nor where that range is set; now in params.yaml's own words for the setting.
        return f"{must_be(str(value), self.allowed, of_kind=of_kind)} (the range of {self.setting})"


class _Seconds(_Bounded, click.FloatRange):
    """A time option, bounded as its setting is. FloatRange lets nan (no comparison holds for it)
    and inf through, and a smoke test given nan was socket's ValueError traceback, given inf a
    retry that never ends. A fraction (0.5) is let through although some of these settings are
    whole seconds in params.yaml: every wait counts them as a float deadline, so it is a short wait."""

    name = "seconds"  # --help's metavar: SECONDS, not FLOAT RANGE

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except ValueError:  # `30s`, `6h`: click's own words were "is not a valid float range"
            self.fail(
                f"{value!r} is not a number of seconds: write them as a bare number (30, 1.5, 3600)",
                param,
                ctx,
            )
        if not math.isfinite(seconds):  # inf, nan, and 1e400 (float's inf): outside every range
            self.fail(self._refused(value), param, ctx)
        try:
            return float(super().convert(seconds, param, ctx))
        except click.BadParameter:
            self.fail(self._refused(value), param, ctx)


class _Count(_Bounded, click.IntRange):
    """A whole-number option, bounded as its setting is. A whole number written as a float (1e3,
    1000.0) is taken, as params.yaml takes it (YAML reads `1e3` as the float 1000.0, pydantic as 1000)."""

    name = "integer"  # --help's metavar: INTEGER, not INTEGER RANGE

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(str(value))  # str: int(1.5) would be 1
        except ValueError:
            try:
                number = _whole(float(value))
            except ValueError:  # `abc`, 1.5, 1e400 (inf), nan
                self.fail(self._refused(value, of_kind=True), param, ctx)
        try:
            return int(super().convert(number, param, ctx))
        except click.BadParameter:
            self.fail(self._refused(value), param, ctx)


def _whole(number: float) -> int:
    if not number.is_integer():  # 1.5, and inf and nan (int() of them raises other errors)
        raise ValueError(number)
    return int(number)


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
