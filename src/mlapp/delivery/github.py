"""GitHub: the attestation check before a deploy, the repository setup, the workflow rules.

``GH_TOKEN`` authenticates ``gh`` and the REST API: the job's token in Actions, an admin's
token for ``mlapp delivery github-setup``. The setup is a list of API requests built as data:
printed by default, sent with ``--apply``; re-running it updates what exists.

Workflow rules zizmor (offline) cannot know, because they are about this repository (zizmor
audits pinning, injection, credentials, permissions, secrets, caches; a test compares each pin
with the verified list): every ``run:`` is ONE project command that exists (a make target, or
``uv run --frozen --no-sync mlapp <group> <command>``: the job installs its own set with
``make sync-*`` first), and deploy jobs (an ``environment:`` and ``mlapp delivery`` steps)
target environments of params (a literal name, or a ``choice`` input: promote's lists every one
after the first, rollback's all) in a shared, never-cancelled ``deploy-<env>`` concurrency
group; and a job gives a secret only to the steps that read it (a job's ``env:`` reaches every
step: checkout, setup-uv, the install). zizmor's auditor persona (``make lint-workflows``) has
a secret read only in a job with an ``environment:`` (``secrets-outside-env``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from mlapp import git, proc
from mlapp.errors import UserError
from mlapp.params import DeliveryParams

CD_WORKFLOW = ".github/workflows/cd.yml"
WORKFLOWS = Path(".github/workflows")
GITHUB_ACTIONS_APP_ID = 15368  # the "GitHub Actions" integration, a bypass actor in rulesets
Call = tuple[str, str, dict[str, Any] | None, str]  # method, path, body, why
MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)(?:\s+[A-Za-z0-9_.-]+)*\s*:(?!=)")
INPUT_EXPR = re.compile(r"^\$\{\{\s*inputs\.([\w-]+)\s*\}\}$")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<", "&"}
UV_RUN = ["uv", "run", "--frozen", "--no-sync", "mlapp"]
# Inside ${{ }}: secrets.NAME or secrets['NAME'] (one), else the whole context (toJSON(secrets),
# secrets[inputs.x]: every secret). Contexts ignore case; GITHUB_TOKEN is the job's own token.
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
SECRET = re.compile(r"""\bsecrets\b(?:\s*\.\s*(\w+)|\s*\[\s*\\?['"](\w+)\\?['"]\s*\])?""", re.I)
Commands = Mapping[str, set[str] | None]  # mlapp.cli.command_tree(): group -> its subcommands


class GitHubError(UserError, RuntimeError):
    pass


def repository(given: str | None = None, remote: str | None = None, option: str = "") -> str:
    """OWNER/NAME: ``given`` (as ``option``), else ``GITHUB_REPOSITORY``, else the git ``remote``'s URL."""
    url = (git.remote_url(remote) if remote else None) or ""
    repo = given or os.environ.get("GITHUB_REPOSITORY") or (git.remote_repo(url) or ("", ""))[1]
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        ask = f"which repository? pass {option} OWNER/NAME or set" if option else "which repository? set"
        raise GitHubError(f"{option} {given!r} is not OWNER/NAME" if given else f"{ask} GITHUB_REPOSITORY")
    return repo


def verify_attestation(ref: str, repo: str) -> int:
    """How many provenance attestations of ``ref`` this repo's cd workflow on main signed (> 0)."""
    signer = ["--signer-workflow", f"{repo}/{CD_WORKFLOW}", "--source-ref", "refs/heads/main"]
    checks = ["--predicate-type", "https://slsa.dev/provenance/v1", "--deny-self-hosted-runners"]
    argv = ["gh", "attestation", "verify", f"oci://{ref}", "--repo", repo, *signer, *checks, "--format=json"]
    if not (results := json.loads(proc.run(argv).stdout or "[]")):
        raise GitHubError(f"no verified provenance attestation for {ref}")
    return len(results)


def reviewer(text: str) -> tuple[str, str]:
    """``user:LOGIN`` / ``team:ORG/SLUG`` -> (reviewer type, the API path that has its id)."""
    kind, _, name = text.partition(":")
    if kind == "user" and name and "/" not in name:
        return "User", f"users/{name}"
    if kind == "team" and name.count("/") == 1 and all(name.split("/")):
        return "Team", "orgs/{}/teams/{}".format(*name.split("/"))
    raise GitHubError(f"reviewer {text!r}: expected user:LOGIN or team:ORG/SLUG")


def plan(
    repo: str,
    delivery: DeliveryParams,
    checks: Sequence[str],
    reviewers: Sequence[dict[str, Any]],
    allow_actions_prs: bool,
    rulesets: Mapping[str, int],
    other_envs: Sequence[str] = (),
) -> list[Call]:
    """A read-only job token; Dependabot alerts and security updates; environments deploy from main
    only, every one after the first behind a reviewer (no self-review, no admin bypass); a reviewed,
    green, linear main; a deploy branch only workflows write and nobody rewrites. ``other_envs``:
    used by other workflows."""
    base, envs = f"repos/{repo}", [*delivery.environments, *other_envs]
    token = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": allow_actions_prs}
    why = "Actions: read-only token by default" + ("; may open PRs" if allow_actions_prs else "")
    calls: list[Call] = [("PUT", f"{base}/actions/permissions/workflow", token, why)]
    # An advisory on a locked package between two `make audit` runs: an alert, and a fix PR from
    # Dependabot (security updates need the alerts on, hence this order; dependabot.yml's weekly
    # version updates need neither).
    calls += [("PUT", f"{base}/vulnerability-alerts", None, "Dependabot alerts"),
              ("PUT", f"{base}/automated-security-fixes", None, "Dependabot security updates")]  # fmt: skip
    policy = {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}}
    gate = {"wait_timer": 0, "prevent_self_review": True, "can_admins_bypass": False, "reviewers": reviewers}
    main = {"name": "main", "type": "branch"}
    for i, env in enumerate(envs):
        gated = 0 < i < len(delivery.environments)
        why = "required reviewers, no self-review, admins cannot bypass" if gated else "main only"
        path = f"{base}/environments/{env}"
        calls.append(("PUT", path, {**(gate if gated else {}), **policy}, f"{env}: {why}"))
        calls.append(("POST", f"{path}/deployment-branch-policies", main, f"{env}: deployment branch"))
    review = {"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True,
              "require_code_owner_review": False, "require_last_push_approval": True,
              "required_review_thread_resolution": True,
              "allowed_merge_methods": ["squash", "rebase"]}  # fmt: skip
    green = {"strict_required_status_checks_policy": True, "do_not_enforce_on_create": False,
             "required_status_checks": [{"context": c} for c in checks]}  # fmt: skip
    keep = [{"type": "deletion"}, {"type": "non_fast_forward"}]
    main_rules = [*keep, {"type": "required_linear_history"}, {"type": "pull_request", "parameters": review},
                  *([{"type": "required_status_checks", "parameters": green}] if checks else [])]  # fmt: skip
    ci_only = {"actor_id": GITHUB_ACTIONS_APP_ID, "actor_type": "Integration", "bypass_mode": "always"}
    state = f"refs/heads/{delivery.state_branch}"
    for name, include, rules, bypass in (("protect main", "~DEFAULT_BRANCH", main_rules, []),
                                         (f"deploy state ({delivery.state_branch})", state,
                                          [*keep, {"type": "update"}], [ci_only])):  # fmt: skip
        body = {"name": name, "target": "branch", "enforcement": "active", "rules": rules,
                "conditions": {"ref_name": {"include": [include], "exclude": []}},
                "bypass_actors": bypass}  # fmt: skip
        path = f"{base}/rulesets" + (f"/{rulesets[name]}" if name in rulesets else "")
        calls.append(("PUT" if name in rulesets else "POST", path, body, f"ruleset {name!r}"))
    return calls


def setup(
    delivery: DeliveryParams,
    repo: str | None,
    reviewers: Sequence[str],
    checks: Sequence[str],
    apply: bool,
    allow_actions_prs: bool,
) -> None:
    repo = repository(repo, delivery.remote, "--repo")
    ci_checks, workflow_envs = workflow_facts()
    others = [e for e in workflow_envs if e not in delivery.environments]
    parsed = [reviewer(r) for r in reviewers]
    if not parsed and len(delivery.environments) > 1:
        gated = ", ".join(delivery.environments[1:])
        message = f"{gated}: no required reviewer; pass --reviewer user:LOGIN or team:ORG/SLUG"
        if apply:
            raise GitHubError(message)
        click.echo(f"# warning: {message}", err=True)
    from mlapp.report.github import Api  # the one GitHub REST client (it imports GitHubError from here)

    api = Api() if apply else None
    ids = [{"type": kind, "id": api.get(path)["id"] if api else 0} for kind, path in parsed]
    existing = {r["name"]: int(r["id"]) for r in api.pages(f"repos/{repo}/rulesets")} if api else {}
    calls = plan(repo, delivery, checks or ci_checks, ids, allow_actions_prs, existing, others)
    if api is None:
        click.echo("# dry run: the requests `--apply` sends (reviewer ids resolved then)")
    for method, path, body, why in calls:
        if api is None:
            click.echo(
                f"\n# {why}\n{method} {path}" + ("" if body is None else f"\n{json.dumps(body, indent=2)}")
            )
            continue
        listed = api.get(path)["branch_policies"] if path.endswith("deployment-branch-policies") else []
        if any(p.get("name") == (body or {}).get("name") for p in listed):  # unique per name: keep it
            continue
        api.request(method, path, body)
        click.echo(f"done: {method} {path}  # {why}")


# --- workflow rules ----------------------------------------------------------------------------


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
    if command.strip().count("\n") or "${{" in command:
        return "run: must be one line without expressions: one make target or one mlapp subcommand"
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
    """The secrets ``node``'s expressions read, by name (``(every secret)`` for the whole context)."""
    names = {
        (m[1] or m[2] or "").upper() for e in EXPRESSION.findall(json.dumps(node)) for m in SECRET.finditer(e)
    }
    return sorted({n or "(every secret)" for n in names} - {"GITHUB_TOKEN"})


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
            for command, offer in (("promote", [*environments[1:]]), ("rollback", [*environments])):
                if "${{" in group and f"mlapp delivery {command}" in runs and envs != offer:  # all reachable
                    findings.append(
                        f"{where}: its choice input must offer {offer} (params order), not {envs}"
                    )
    return findings
