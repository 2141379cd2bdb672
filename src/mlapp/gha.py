"""The one way this package talks to GitHub Actions: step outputs and the run's summary page.

Outputs use GitHub's multi-line ``key<<DELIMITER`` form with a random delimiter, so a value
(a branch name, a reason, a model tag) can never inject another output. Every writer takes an
explicit path (what ``--github-output`` / ``--summary`` pass) and falls back to the variable
the runner sets; outside Actions with no path they do nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

OUTPUT_ENV = "GITHUB_OUTPUT"
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

OutputValue = str | int | float | bool | list[str] | tuple[str, ...]


def is_actions() -> bool:
    """True inside a GitHub Actions job (the runner sets ``GITHUB_ACTIONS=true``)."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _target(explicit: Path | None, env_name: str) -> Path | None:
    if explicit is not None:
        return explicit
    value = os.environ.get(env_name)
    return Path(value) if value else None


def output_path(explicit: Path | None = None) -> Path | None:
    return _target(explicit, OUTPUT_ENV)


def summary_path(explicit: Path | None = None) -> Path | None:
    return _target(explicit, SUMMARY_ENV)


def _text(value: OutputValue) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "\n".join(value)
    return str(value)


def format_output(key: str, value: OutputValue) -> str:
    """One output in the multi-line form, delimited by 128 random bits."""
    if not key or any(ch in key for ch in "\r\n=<"):
        raise ValueError(f"invalid output name {key!r}")
    text = _text(value)
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    if delimiter in text:  # pragma: no cover - 128 random bits
        raise ValueError("output value collides with its delimiter")
    return f"{key}<<{delimiter}\n{text}\n{delimiter}\n"


def set_outputs(values: Mapping[str, OutputValue], path: Path | None = None) -> Path | None:
    """Append step outputs; return the file written, or None when there is nowhere to write."""
    target = output_path(path)
    if target is None:
        return None
    with target.open("a", encoding="utf-8") as handle:
        handle.write("".join(format_output(key, value) for key, value in values.items()))
    return target


def set_output(key: str, value: OutputValue, path: Path | None = None) -> Path | None:
    return set_outputs({key: value}, path)


def append_summary(markdown: str, path: Path | None = None) -> Path | None:
    """Append Markdown to the run's summary page; return the file written, or None."""
    target = summary_path(path)
    if target is None:
        return None
    with target.open("a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return target


def parse_outputs(text: str) -> dict[str, str]:
    """Read a ``$GITHUB_OUTPUT`` file back (both ``k=v`` and ``k<<DELIM`` forms), as the runner does."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise ValueError(f"output {key!r}: delimiter {delimiter!r} never closes")
            values[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values
