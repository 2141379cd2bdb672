"""The workflow rules zizmor cannot know, because they are about this repository.

zizmor (``--offline``) audits pinning, template injection, persisted credentials, permissions,
secrets outside environments, cache poisoning and concurrency; the JSON schema checks syntax.
Left here: every ``run:`` is ONE project command that exists (a make target or an ``mlapp``
subcommand), an action has the same pin in every file, and deploy jobs (an ``environment:``
and ``mlapp delivery`` steps) target environments of ``params.yaml`` (a literal name, or a
``choice`` input listing them) with a shared, never-cancelled ``deploy-<env>`` concurrency group.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

USES_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*['\"]?(?P<ref>[^\s'\"#]+)['\"]?\s*(?:#\s*(?P<comment>.*?))?\s*$"
)
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)(?:\s+[A-Za-z0-9_.-]+)*\s*:(?!=)")
INPUT_EXPR = re.compile(r"^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<", "&"}


@dataclass(frozen=True)
class Finding:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


def make_targets(makefile: Path) -> set[str]:
    lines = makefile.read_text().splitlines()
    return {
        t
        for line in lines
        if MAKE_TARGET.match(line) and not line.startswith((" ", "\t", "."))
        for t in line.split(":", 1)[0].split()
    }


def check_run(command: str, targets: set[str], commands: Mapping[str, set[str] | None]) -> str | None:
    """Why a ``run:`` is not one project command, or None when it is."""
    if command.strip().count("\n") or "${{" in command:
        return "run: must be one line without expressions: one make target or one mlapp subcommand"
    words = shlex.split(command)
    if SHELL_OPERATORS & set(words):
        return "run: chains shell commands; put the logic in a make target or mlapp subcommand"
    if words[:1] == ["make"]:
        missing = [w for w in words[1:] if not w.startswith("-") and "=" not in w and w not in targets]
        return f"make target(s) {missing} not in the Makefile" if missing or len(words) < 2 else None
    if words[:3] not in (["uv", "run", "--frozen"], ["uv", "run", "--locked"]) or "mlapp" not in words:
        return "run: must call `make <target>` or `uv run --frozen mlapp <command>`"
    args = words[words.index("mlapp") + 1 :]
    while args and args[0].startswith("-"):  # group options such as --params FILE
        args = args[2:] if args[0] == "--params" else args[1:]
    if not args or args[0] not in commands:
        return f"`mlapp {' '.join(args[:1])}` is not a command (mlapp --help)"
    subs = commands[args[0]]
    if subs is not None and (len(args) < 2 or args[1] not in subs):
        return f"`mlapp {args[0]}` needs one of its subcommands {sorted(subs)}"
    return None


def _environments(wf: Mapping[Any, Any], job: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(the concurrency group the job must use, the environments it can deploy to)."""
    env = job["environment"]
    name = str(env.get("name") if isinstance(env, Mapping) else env)
    match = INPUT_EXPR.match(name)
    if not match:
        return f"deploy-{name}", [name]
    on = wf.get("on", wf.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
    spec = (on.get("workflow_dispatch") or {}).get("inputs", {}).get(match[1], {})
    return f"deploy-{name}", [str(o) for o in spec.get("options", [])] if spec.get("type") == "choice" else []


def check_workflow(
    name: str,
    text: str,
    targets: set[str],
    commands: Mapping[str, set[str] | None],
    environments: Sequence[str],
) -> list[Finding]:
    wf = yaml.safe_load(text) or {}
    findings = []
    for job_id, job in (wf.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            problem = check_run(str(step["run"]), targets, commands) if "run" in step else None
            if problem:
                findings.append(Finding(name, f"job {job_id} step {index + 1}", problem))
        runs = " ".join(str(step.get("run", "")) for step in job.get("steps") or [])
        if not job.get("environment") or "mlapp delivery" not in runs:
            continue  # not a deploy job (other workflows may use environments for their secrets)
        group, envs = _environments(wf, job)
        conc = job.get("concurrency") or {}
        where = f"job {job_id}"
        if not isinstance(conc, Mapping) or conc.get("group") != group or conc.get("cancel-in-progress"):
            why = "every workflow deploying there queues behind the others"
            findings.append(
                Finding(
                    name, where, f"needs concurrency {{group: {group}, cancel-in-progress: false}}: {why}"
                )
            )
        unknown = [e for e in envs if e not in environments] if envs else ["(not a choice input)"]
        if unknown:
            findings.append(
                Finding(name, where, f"environment(s) {unknown} not in params {list(environments)}")
            )
    return findings


def uses_pins(workflows_dir: Path) -> list[tuple[str, str, str, str]]:
    """(file, action, sha, tag) for every pinned ``uses:`` in the workflows."""
    out = []
    for path in sorted(workflows_dir.glob("*.y*ml")):
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            pinned = PINNED.match(match["ref"]) if match else None
            if match and pinned:
                tag = (match["comment"] or "").split()[0] if match["comment"] else ""
                out.append((path.name, pinned["action"], pinned["sha"], tag))
    return out


def check_all(
    workflows_dir: Path, makefile: Path, commands: Mapping[str, set[str] | None], environments: Sequence[str]
) -> list[Finding]:
    targets = make_targets(makefile)
    files = sorted(workflows_dir.glob("*.y*ml"))
    findings = [
        f for p in files for f in check_workflow(p.name, p.read_text(), targets, commands, environments)
    ]
    seen: dict[str, tuple[str, str, str]] = {}
    for file, action, sha, tag in uses_pins(workflows_dir):
        if not tag.startswith("v"):
            findings.append(
                Finding(file, action, f"{action}@{sha} needs its tag as a trailing comment (# vX.Y.Z)")
            )
        first = seen.setdefault(action, (sha, tag, file))
        if first[:2] != (sha, tag):
            findings.append(
                Finding(file, action, f"pinned to {sha} # {tag}, but {first[2]} pins {first[0]} # {first[1]}")
            )
    return findings or ([] if files else [Finding(str(workflows_dir), "-", "no workflows found")])
