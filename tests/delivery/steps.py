"""A workflow's `run:` step as the command a test runs: the step's own words and its job's and
step's `env:`, with each `${{ ... }}` replaced by a local value.

Tests take the command from the workflow file instead of retyping it, so a test runs exactly
what the job runs: when the step's arguments change, the test runs the new ones.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import REPO, sh
from tests.delivery.conftest import FIRST, bin_dir, path_with

from mlapp import workflows

WORKFLOWS = REPO / workflows.WORKFLOWS
UV_RUN = workflows.UV_RUN[:-1]  # what every `uv run` step starts with (the rules checker holds them to it)
UV = " ".join(UV_RUN) + " "
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
UNSET_ON_DAY_ONE = ("vars.", "secrets.", "github.")  # a new repository has none of these

REPOSITORY = "acme/churn"
RUNNER = {"GITHUB_REPOSITORY": REPOSITORY}  # set by the runner, not by the workflow
# What a stand-in `gh attestation verify` does: find one provenance attestation, or none.
FOUND = "echo '[{\"verificationResult\": {}}]'"
NOT_FOUND = 'echo "no attestations found for the subject" >&2; exit 1'


def defaults(workflow: str) -> dict[str, str]:
    """``inputs.*`` of a manual run that keeps every default."""
    inputs = (load(workflow)[True]["workflow_dispatch"] or {}).get("inputs", {})  # YAML 1.1: `on` is True
    return {f"inputs.{name}": str(spec.get("default", "")) for name, spec in inputs.items()}


def gh(tmp_path: Path, body: str) -> str:
    """PATH with a ``gh`` first that appends its arguments to ``tmp_path/gh.log``, then runs ``body``."""
    tmp_path.mkdir(exist_ok=True)
    script = f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/gh.log"\n{body}\n'
    return path_with(bin_dir(tmp_path, "gh", script))


def load(name: str) -> dict[Any, Any]:
    """``.github/workflows/NAME`` as data (YAML 1.1: a bare ``on`` key reads as True)."""
    return yaml.safe_load((WORKFLOWS / name).read_text())


def environment_job(workflow: str, env: str) -> str:
    """The id of ``workflow``'s job deploying to ``env`` (found by its ``environment:``, not its id)."""
    for job_id, job in load(workflow)["jobs"].items():
        named = job.get("environment")
        if (named.get("name") if isinstance(named, dict) else named) == env:
            return str(job_id)
    raise AssertionError(f"{workflow} has no job with environment {env!r}")


CD_JOB = environment_job("cd.yml", FIRST)  # cd deploys params' first environment (`staging`)


def run_steps() -> Iterator[tuple[str, str, str]]:
    """(workflow file, job, run line) of every `run:` step of every workflow."""
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        for job_name, job in (load(path.name).get("jobs") or {}).items():
            for step in job.get("steps") or []:
                if "run" in step:
                    yield path.name, job_name, str(step["run"]).strip()


def _substitute(text: str, context: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name in context:
            return context[name]
        if name.startswith(UNSET_ON_DAY_ONE):
            return ""
        raise KeyError(f"the test gives no local value for ${{{{ {name} }}}}")

    return EXPRESSION.sub(value, text)


def command(
    workflow: str,
    job: str,
    starts: str,
    context: Mapping[str, str] | None = None,
    runner: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """(argv, env) of the one step of ``job`` whose run line starts with ``starts``.

    argv starts at ``mlapp`` for `uv run` steps (the tests run the project's entry point) and
    is ``make TARGET`` for make steps; ``$VAR`` and ``"${VAR}"`` are expanded from env, which is
    the job's and the step's ``env:`` after substitution (``vars.*``, ``secrets.*`` and
    ``github.*`` are empty unless ``context`` names them; anything else must be given), plus
    ``runner``: what the runner itself sets (``GITHUB_REPOSITORY``, ``GITHUB_OUTPUT``...).
    """
    spec = load(workflow)["jobs"][job]
    steps = [s for s in spec["steps"] if str(s.get("run", "")).startswith(starts)]
    assert len(steps) == 1, f"{workflow} {job}: {len(steps)} run steps start with {starts!r}"
    context = context or {}
    declared = {**spec.get("env", {}), **steps[0].get("env", {})}
    env = {**(runner or {}), **{k: _substitute(str(v), context) for k, v in declared.items()}}
    words = shlex.split(str(steps[0]["run"]))
    missing = {n for w in words for n in re.findall(r"\$\{?(\w+)", w)} - set(env)
    assert not missing, f"{workflow} {job}: the step reads {missing}, which no env: sets"
    expanded = [_expand(w, env) for w in words]
    if expanded[: len(UV_RUN)] == UV_RUN:
        expanded = expanded[len(UV_RUN) :]
    return expanded, env


def _expand(word: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env[m[1]], word)


def make_recipe(target: str, cwd: Path = REPO) -> list[list[str]]:
    """The commands ``make TARGET`` runs, with the environment launcher (``$(RUN)``) left out."""
    done = sh("make", "-n", "--no-print-directory", target, "RUN=", "UV=uv", cwd=cwd)
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]
