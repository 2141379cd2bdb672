"""The workflow rules zizmor cannot know, because they are about this repository.

zizmor (``--offline``) audits pinning, injection, credentials, permissions, secrets and caches;
the JSON schemas check syntax; a test compares every pin with the verified list. Left here:
every ``run:`` is ONE project command that exists (a make target, or ``uv run --frozen
--no-sync mlapp <group> <command>``: the job installs its own set with ``make sync-*`` first),
and deploy jobs (an ``environment:`` and ``mlapp delivery`` steps) target environments of
``params.yaml`` (a literal name, or a ``choice`` input listing them) in a shared,
never-cancelled ``deploy-<env>`` concurrency group.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)(?:\s+[A-Za-z0-9_.-]+)*\s*:(?!=)")
INPUT_EXPR = re.compile(r"^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<", "&"}
UV_RUN = ["uv", "run", "--frozen", "--no-sync", "mlapp"]
Commands = Mapping[str, set[str] | None]  # mlapp.cli.command_tree(): group -> its subcommands


def make_targets(makefile: Path) -> set[str]:
    lines = [line for line in makefile.read_text().splitlines() if not line.startswith((" ", "\t", "."))]
    return {t for line in lines if MAKE_TARGET.match(line) for t in line.split(":", 1)[0].split()}


def check_run(command: str, targets: set[str], commands: Commands) -> str | None:
    """Why a ``run:`` is not one project command, or None when it is."""
    if command.strip().count("\n") or "${{" in command:
        return "run: must be one line without expressions: one make target or one mlapp subcommand"
    words = shlex.split(command)
    if SHELL_OPERATORS & set(words):
        return "run: chains shell commands; put the logic in a make target or mlapp subcommand"
    if words[:1] == ["make"]:
        missing = [w for w in words[1:] if not w.startswith("-") and "=" not in w and w not in targets]
        return f"make target(s) {missing} not in the Makefile" if missing or len(words) < 2 else None
    if words[: len(UV_RUN)] != UV_RUN:
        return f"run: must call `make <target>` or `{' '.join(UV_RUN)} <command>` (after `make sync-*`)"
    group, sub = [*words[len(UV_RUN) :], "", ""][:2]
    if group not in commands:
        return f"`mlapp {group}` is not a command (mlapp --help)"
    if (subs := commands[group]) is not None and sub not in subs:
        return f"`mlapp {group}` needs one of its subcommands {sorted(subs)}"
    return None


def deploy_targets(wf: Mapping[Any, Any], job: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(the concurrency group a deploy job must use, the environments it can deploy to)."""
    env = job["environment"]
    name = str(env.get("name") if isinstance(env, Mapping) else env)
    match = INPUT_EXPR.match(name)
    if not match:
        return f"deploy-{name}", [name]
    on = wf.get("on", wf.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
    spec = (on.get("workflow_dispatch") or {}).get("inputs", {}).get(match[1], {})
    return f"deploy-{name}", [str(o) for o in spec.get("options", [])] if spec.get("type") == "choice" else []


def check_workflow(
    name: str, text: str, targets: set[str], commands: Commands, environments: Sequence[str]
) -> list[str]:
    wf = yaml.safe_load(text) or {}
    findings = []
    for job_id, job in (wf.get("jobs") or {}).items():
        steps = job.get("steps") or []
        for index, step in enumerate(steps):
            if "run" in step and (problem := check_run(str(step["run"]), targets, commands)):
                findings.append(f"{name}: job {job_id} step {index + 1}: {problem}")
        if not job.get("environment") or not any("mlapp delivery" in str(s.get("run")) for s in steps):
            continue  # not a deploy job (other workflows may use environments for their secrets)
        group, envs = deploy_targets(wf, job)
        conc = job.get("concurrency") or {}
        if not isinstance(conc, Mapping) or conc.get("group") != group or conc.get("cancel-in-progress"):
            findings.append(f"{name}: job {job_id}: needs concurrency {{group: {group}, cancel-in-progress: "
                            "false}: every workflow deploying there queues behind the others")  # fmt: skip
        if unknown := [e for e in envs if e not in environments] if envs else ["(not a choice input)"]:
            findings.append(f"{name}: job {job_id}: environment(s) {unknown} not in params {[*environments]}")
    return findings


def check_all(folder: Path, makefile: Path, commands: Commands, environments: Sequence[str]) -> list[str]:
    targets, files = make_targets(makefile), sorted(folder.glob("*.y*ml"))
    found = [f for p in files for f in check_workflow(p.name, p.read_text(), targets, commands, environments)]
    return found if files else [f"{folder}: no workflows found"]
