"""The workflow rules of this repository, checked offline on every workflow.

zizmor and the workflow JSON schema catch generic problems; these rules are ours: thin
steps that call project commands that exist, SHA pins with their tag comment, read-only
defaults, deploy jobs that never cancel each other, secrets only behind an environment.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

USES_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*['\"]?(?P<ref>[^\s'\"#]+)['\"]?\s*(?:#\s*(?P<comment>.*?))?\s*$"
)
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?P<path>/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")
TAG_COMMENT = re.compile(r"^v\d+(?:\.\d+){0,2}\b")
DOCKER_PINNED = re.compile(r"^docker://[^@\s]+@sha256:[0-9a-f]{64}$")
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)(?:\s+[A-Za-z0-9_.-]+)*\s*:(?!=)")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<", "&"}
READ_ONLY = {"read", "none"}


@dataclass(frozen=True)
class Finding:
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


def make_targets(makefile: Path) -> set[str]:
    targets: set[str] = set()
    for line in makefile.read_text().splitlines():
        match = MAKE_TARGET.match(line)
        if match and not line.startswith(("\t", " ", ".")):
            targets.update(line.split(":", 1)[0].split())
    return targets


def _triggers(workflow: Mapping[Any, Any]) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return set(on)
    return set(on or {})


def _steps(job: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    yield from enumerate(job.get("steps") or [])


def _step_name(index: int, step: Mapping[str, Any]) -> str:
    return f"step {index + 1} ({step.get('name') or step.get('uses') or str(step.get('run', ''))[:40]})"


def _uses(step: Mapping[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@", 1)[0] == action


def _perm_writes(perms: Any) -> set[str]:
    if perms in (None, {}, "read-all"):
        return set()
    if perms == "write-all":
        return {"*"}
    if isinstance(perms, Mapping):
        return {k for k, v in perms.items() if v not in READ_ONLY}
    return {"?"}


def check_pins(name: str, text: str, seen: dict[str, tuple[str, str, str]]) -> list[Finding]:
    """``owner/repo@<40 hex> # vX.Y.Z``, and the same pin for the same action everywhere."""
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref, comment = match["ref"], (match["comment"] or "").strip()
        where = f"line {number}"
        if ref.startswith("./") or DOCKER_PINNED.match(ref):
            continue
        pinned = PINNED.match(ref)
        if not pinned:
            findings.append(Finding(name, where, f"`uses: {ref}` is not pinned to a full commit SHA"))
            continue
        if not TAG_COMMENT.match(comment):
            findings.append(Finding(name, where, f"`{ref}` needs its tag as a trailing comment (# vX.Y.Z)"))
            continue
        tag = comment.split()[0]
        action = pinned["action"]
        if action in seen and seen[action][:2] != (pinned["sha"], tag):
            other = seen[action]
            findings.append(
                Finding(
                    name,
                    where,
                    f"{action} pinned to {pinned['sha']} # {tag}, but {other[2]} pins "
                    f"{other[0]} # {other[1]}",
                )
            )
        seen.setdefault(action, (pinned["sha"], tag, name))
    return findings


def check_run(command: str, targets: set[str], commands: Mapping[str, set[str] | None]) -> str | None:
    """Why a ``run:`` is not one project command, or None when it is."""
    if "${{" in command:
        return "expression inside run: (pass values through env: instead; template injection)"
    if command.strip().count("\n"):
        return "run: must be one line: one make target or one mlapp subcommand"
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return f"run: does not parse ({exc})"
    if SHELL_OPERATORS & set(words):
        return "run: chains shell commands; put the logic in a make target or mlapp subcommand"
    if words[:1] == ["make"]:
        wanted = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not wanted:
            return "`make` without a target"
        missing = [w for w in wanted if w not in targets]
        return f"make target(s) {missing} not in the Makefile" if missing else None
    if words[:2] == ["uv", "run"]:
        rest = words[2:]
        options = [w for w in rest[: rest.index("mlapp")]] if "mlapp" in rest else rest
        if "mlapp" not in rest:
            return "`uv run` of something other than mlapp"
        if "--frozen" not in options and "--locked" not in options:
            return "`uv run` needs --frozen or --locked (never re-lock in CI)"
        args = [w for w in rest[rest.index("mlapp") + 1 :]]
        while args and args[0].startswith("-"):  # group options such as --params FILE
            args = args[2:] if args[0] == "--params" else args[1:]
        if not args:
            return "`mlapp` without a subcommand"
        if args[0] not in commands:
            return f"`mlapp {args[0]}` is not a subcommand (mlapp --help)"
        subs = commands[args[0]]
        if subs is not None and (len(args) < 2 or args[1] not in subs):
            return f"`mlapp {args[0]}` needs one of its subcommands {sorted(subs)}"
        return None
    return "run: must call `make <target>` or `uv run --frozen mlapp <command>`"


def check_workflow(
    name: str, text: str, targets: set[str], commands: Mapping[str, set[str] | None]
) -> list[Finding]:
    findings: list[Finding] = []
    wf = yaml.safe_load(text) or {}
    triggers = _triggers(wf)

    def add(where: str, message: str) -> None:
        findings.append(Finding(name, where, message))

    if "pull_request_target" in triggers:
        add("on", "pull_request_target runs with secrets on PR code; use workflow_run for comments")
    top = wf.get("permissions")
    if top is None:
        add("permissions", "top-level permissions missing: set `permissions: {}` (jobs widen what they need)")
    elif _perm_writes(top):
        add(
            "permissions",
            f"top-level permissions grant write ({sorted(_perm_writes(top))}); keep them read-only",
        )
    if "secrets." in yaml.safe_dump(wf.get("env") or {}):
        add("env", "secrets in workflow-level env: reach every job; scope them to an environment job")

    jobs: Mapping[str, Any] = wf.get("jobs") or {}
    deploys = any(j.get("environment") for j in jobs.values())
    wf_concurrency = wf.get("concurrency")
    if "pull_request" in triggers:
        ok = isinstance(wf_concurrency, Mapping) and wf_concurrency.get("cancel-in-progress") not in (
            None,
            False,
        )
        if not ok and not all(
            isinstance(j.get("concurrency"), Mapping) and j["concurrency"].get("cancel-in-progress")
            for j in jobs.values()
        ):
            add("concurrency", "pull_request workflows cancel superseded runs (cancel-in-progress)")

    for job_id, job in jobs.items():
        where = f"job {job_id}"
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, Mapping) else env
        writes = _perm_writes(job.get("permissions"))
        body = yaml.safe_dump(job)
        secrets = {s for s in re.findall(r"secrets\.(\w+)", body) if s != "GITHUB_TOKEN"}
        if secrets and not env:
            add(where, f"uses secrets {sorted(secrets)} without an environment: (approval gates and scoping)")
        if "id-token" in writes and not env and not any(_uses(s, "actions/attest") for _, s in _steps(job)):
            add(where, "id-token: write without an environment or an attestation step")
        if env:
            conc = job.get("concurrency", wf_concurrency)
            if not isinstance(conc, Mapping) or not conc.get("group"):
                add(
                    where,
                    f"deploy job needs `concurrency: {{group: deploy-{env_name}}}` (no cancel-in-progress)",
                )
            else:
                if conc.get("cancel-in-progress") not in (None, False):
                    add(where, "deploy jobs never cancel each other (cancel-in-progress: false)")
                if (
                    isinstance(env_name, str)
                    and "${{" not in env_name
                    and conc["group"] != f"deploy-{env_name}"
                ):
                    add(
                        where,
                        f"concurrency group {conc['group']!r} should be 'deploy-{env_name}' "
                        "(every workflow deploying there shares it)",
                    )
        for index, step in _steps(job):
            swhere = f"{where} {_step_name(index, step)}"
            if "run" in step:
                problem = check_run(str(step["run"]), targets, commands)
                if problem:
                    add(swhere, problem)
            with_ = step.get("with") or {}
            if _uses(step, "actions/checkout"):
                if with_.get("persist-credentials") is not False and "contents" not in writes:
                    add(swhere, "checkout needs `persist-credentials: false` (the job does not push)")
                if "workflow_run" in triggers and "workflow_run.head" in str(with_.get("ref", "")):
                    add(swhere, "workflow_run jobs never check out the PR's code")
            if deploys:
                if _uses(step, "actions/cache"):
                    add(swhere, "no caches in deploy workflows (cache poisoning)")
                if _uses(step, "astral-sh/setup-uv") and with_.get("enable-cache") is not False:
                    add(swhere, "setup-uv in a deploy workflow needs `enable-cache: false`")
                if _uses(step, "actions/setup-python") and with_.get("cache"):
                    add(swhere, "no setup-python cache in deploy workflows")
    return findings


def check_all(workflows_dir: Path, makefile: Path, commands: Mapping[str, set[str] | None]) -> list[Finding]:
    targets = make_targets(makefile)
    findings: list[Finding] = []
    seen: dict[str, tuple[str, str, str]] = {}
    files = sorted([*workflows_dir.glob("*.yml"), *workflows_dir.glob("*.yaml")])
    if not files:
        return [Finding(str(workflows_dir), "-", "no workflows found")]
    for path in files:
        text = path.read_text()
        findings += check_pins(path.name, text, seen)
        findings += check_workflow(path.name, text, targets, commands)
    return findings


def pins_from_markdown(text: str) -> dict[str, tuple[str, str]]:
    """``owner/repo@sha # vX`` lines of a pin list -> {action: (sha, tag)}."""
    pins: dict[str, tuple[str, str]] = {}
    for match in re.finditer(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*#\s*(v[\d.]+)", text):
        pins.setdefault(match[1], (match[2], match[3]))
    return pins


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
