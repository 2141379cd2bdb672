"""The rules ``mlapp delivery check-workflows`` (``make lint-workflows``) holds every workflow of
``.github/workflows`` to, and what else reads those files and the Makefile (ci.yml's job names,
the workflows' environments, the make targets).

Workflow rules zizmor (offline) cannot know, because they are about this repository (zizmor
audits pinning, credentials, permissions, secrets, caches, and injection: its auditor persona
refuses any expression in a ``run:``; a test compares each pin with the verified list): every
``run:`` is ONE project command that exists (a make target, or
``uv run --frozen --no-sync mlapp <group> <command>``: the job installs its own set with
``make sync-*`` first), and deploy jobs (an ``environment:`` and ``mlapp delivery`` steps)
target environments of params (a literal name, or a ``choice`` input: promote's lists every one
after the first, rollback's all) in a shared, never-cancelled ``deploy-<env>`` concurrency
group; and a job gives a secret only to the steps that read it (a job's ``env:`` reaches every
step: checkout, setup-uv, the install). zizmor's auditor persona (``make lint-workflows``) has
a secret read only in a job with an ``environment:`` (``secrets-outside-env``).
A deploy job's ``--env`` arguments name its own environment: one left behind by a rename
would deploy to an environment params no longer has.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(".github/workflows")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)(?:\s+[A-Za-z0-9_.-]+)*\s*:(?!=)")
INPUT_EXPR = re.compile(r"^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<", "&"}
UV_RUN = ["uv", "run", "--frozen", "--no-sync", "mlapp"]
# Inside ${{ }}: secrets.NAME or secrets['NAME'] (the whole context, toJSON(secrets) or
# secrets[inputs.x], is zizmor's overprovisioned-secrets). Contexts ignore case; GITHUB_TOKEN is the job's.
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
SECRET = re.compile(r"""\bsecrets\s*(?:\.\s*(\w+)|\[\s*\\?['"](\w+)\\?['"]\s*\])""", re.I)
Commands = Mapping[str, set[str] | None]  # mlapp.cli.command_tree(): group -> its subcommands


def workflow_facts(folder: Path = WORKFLOWS) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ci.yml's job names: its status checks, literal ``environment:`` names of any workflow)."""
    load = lambda p: (yaml.safe_load(p.read_text()) or {}).get("jobs") or {}  # noqa: E731
    ci = load(folder / "ci.yml") if (folder / "ci.yml").is_file() else {}
    envs = [
        e.get("name") if isinstance(e, dict) else e
        for p in sorted(folder.glob("*.y*ml"))
        for job in load(p).values()
        if (e := job.get("environment"))
    ]
    literal = [e for e in envs if isinstance(e, str) and "${{" not in e]
    return tuple(str(job.get("name") or job_id) for job_id, job in ci.items()), tuple(dict.fromkeys(literal))


def make_targets(makefile: Path) -> set[str]:
    lines = [line for line in makefile.read_text().splitlines() if not line.startswith((" ", "\t", "."))]
    return {t for line in lines if MAKE_TARGET.match(line) for t in line.split(":", 1)[0].split()}


def check_run(command: str, targets: set[str], commands: Commands) -> str | None:
    """Why a ``run:`` is not one project command, or None when it is."""
    if command.strip().count("\n"):
        return "run: must be one line: one make target or one mlapp subcommand"
    try:
        words = shlex.split(command)
    except ValueError as exc:  # e.g. an unclosed quote: the shell would fail on it too
        return f"run: is not one shell command ({exc})"
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
    if not (match := INPUT_EXPR.match(name)):
        return f"deploy-{name}", [name]
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as True; a list has no inputs
    dispatch = (on.get("workflow_dispatch") if isinstance(on, Mapping) else None) or {}
    spec = dispatch.get("inputs", {}).get(match[1], {})
    return f"deploy-{name}", [str(o) for o in spec.get("options", [])] if spec.get("type") == "choice" else []


def secrets_read(node: object) -> list[str]:
    """The secrets ``node``'s expressions read, by name."""
    names = {(m[1] or m[2]).upper() for e in EXPRESSION.findall(json.dumps(node)) for m in SECRET.finditer(e)}
    return sorted(names - {"GITHUB_TOKEN"})


def env_arguments(run: str) -> set[str]:
    """The environment names a step's ``--env`` arguments pass literally, quoted or not (the
    workflows quote "$PROMOTE_TO", so a rename may leave "staging" quoted too); a variable, as
    the choice input's "$PROMOTE_TO", is none."""
    try:
        words = shlex.split(run)
    except ValueError:
        return set()  # check_run names a run that is no shell command
    values = [v for flag, v in pairwise(words) if flag == "--env"]
    values += [w.removeprefix("--env=") for w in words if w.startswith("--env=")]
    return {v for v in values if "$" not in v}


def check_all(folder: Path, makefile: Path, commands: Commands, environments: Sequence[str]) -> list[str]:
    targets, files = make_targets(makefile), sorted(folder.glob("*.y*ml"))
    findings = [] if files else [f"{folder}: no workflows found"]
    for path in files:
        wf = yaml.safe_load(path.read_text()) or {}
        for job_id, job in (wf.get("jobs") or {}).items():
            steps, where = job.get("steps") or [], f"{path.name}: job {job_id}"
            for index, step in enumerate(steps):
                if "run" in step and (problem := check_run(str(step["run"]), targets, commands)):
                    findings.append(f"{where} step {index + 1}: {problem}")
            if at_job := secrets_read(job.get("env") or {}):
                findings.append(f"{where}: job-level env: gives secrets {at_job} to every step, actions "
                                "included: set them in the env: of the steps that read them")  # fmt: skip
            runs = " ".join(str(s.get("run")) for s in steps)
            if not job.get("environment") or "mlapp delivery" not in runs:
                continue  # not a deploy job (other workflows may use environments for their secrets)
            group, envs = deploy_targets(wf, job)
            conc = job.get("concurrency") or {}
            if not isinstance(conc, Mapping) or conc.get("group") != group or conc.get("cancel-in-progress"):
                need = f"needs concurrency {{group: {group}, cancel-in-progress: false}}"
                findings.append(f"{where}: {need}: every workflow deploying there queues behind the others")
            if unknown := [e for e in envs if e not in environments] if envs else ["(not a choice input)"]:
                findings.append(f"{where}: environment(s) {unknown} not in params {[*environments]}")
            passed = {name for s in steps if "run" in s for name in env_arguments(str(s["run"]))}
            if stale := sorted(passed - set(envs)):
                findings.append(f"{where}: steps pass --env {stale}, not its environment {envs}: rename them")
            for command, offer in (("promote", [*environments[1:]]), ("rollback", [*environments])):
                if "${{" in group and f"mlapp delivery {command}" in runs and envs != offer:  # all reachable
                    findings.append(
                        f"{where}: its choice input must offer {offer} (params order), not {envs}"
                    )
    return findings
