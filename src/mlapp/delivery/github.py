"""GitHub through the ``gh`` CLI: the attestation check before a deploy, and the repository setup.

``gh`` authenticates with ``GH_TOKEN`` (the job's token in Actions, an admin's token for
``mlapp delivery github-setup``). The setup is a list of API requests built as data: printed
by default, sent with ``--apply``; re-running it updates what exists.
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

from mlapp import proc
from mlapp.errors import UserError
from mlapp.params import DeliveryParams

CD_WORKFLOW = ".github/workflows/cd.yml"
WORKFLOWS = Path(".github/workflows")
GITHUB_ACTIONS_APP_ID = 15368  # the "GitHub Actions" integration, a bypass actor in rulesets
Call = tuple[str, str, dict[str, Any] | None, str]  # method, path, body, why


class GitHubError(UserError, RuntimeError):
    pass


def remote_repo(url: str) -> tuple[str, str] | None:
    """(host, OWNER/NAME) of an ssh or https git URL; None for anything else (a local path)."""
    match = re.fullmatch(r"(?:git@|ssh://git@|https://)([\w.-]+)[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    return (match[1], match[2]) if match else None


def repository(explicit: str | None = None, remote: str | None = None) -> str:
    """OWNER/NAME: ``explicit``, else ``GITHUB_REPOSITORY``, else the git ``remote``'s URL."""
    url = proc.run(["git", "remote", "get-url", remote], check=False).stdout.strip() if remote else ""
    repo = explicit or os.environ.get("GITHUB_REPOSITORY") or (remote_repo(url) or ("", ""))[1]
    if repo.count("/") != 1:
        raise GitHubError("which repository? pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    return repo


def verify_attestation(ref: str, repo: str) -> int:
    """How many provenance attestations of ``ref`` this repo's cd workflow on main signed (> 0)."""
    argv = ["gh", "attestation", "verify", f"oci://{ref}", "--repo", repo,
            "--signer-workflow", f"{repo}/{CD_WORKFLOW}", "--source-ref", "refs/heads/main",
            "--predicate-type", "https://slsa.dev/provenance/v1", "--deny-self-hosted-runners",
            "--format", "json"]  # fmt: skip
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


def plan(
    repo: str,
    delivery: DeliveryParams,
    checks: Sequence[str],
    reviewers: Sequence[dict[str, Any]],
    allow_actions_prs: bool,
    rulesets: Mapping[str, int],
    other_envs: Sequence[str] = (),
) -> list[Call]:
    """A read-only job token; environments deploy from main only, every one after the first behind
    a reviewer (no self-review, no admin bypass); a reviewed, green, linear main; a deploy branch
    only workflows write and nobody rewrites. ``other_envs``: used by other workflows."""
    base, envs = f"repos/{repo}", [*delivery.environments, *other_envs]
    token = {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": allow_actions_prs}
    why = "Actions: read-only token by default" + ("; may open PRs" if allow_actions_prs else "")
    calls: list[Call] = [("PUT", f"{base}/actions/permissions/workflow", token, why)]
    policy = {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}}
    gate = {"wait_timer": 0, "prevent_self_review": True, "can_admins_bypass": False,
            "reviewers": [*reviewers]}  # fmt: skip
    for i, env in enumerate(envs):
        gated = 0 < i < len(delivery.environments)
        why = "required reviewers, no self-review, admins cannot bypass" if gated else "main only"
        calls.append(
            ("PUT", f"{base}/environments/{env}", {**(gate if gated else {}), **policy}, f"{env}: {why}")
        )
        calls.append(("POST", f"{base}/environments/{env}/deployment-branch-policies",
                      {"name": "main", "type": "branch"}, f"{env}: deployment branch"))  # fmt: skip
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


def api_argv(method: str, path: str, body: dict[str, Any] | None) -> list[str]:
    argv = ["gh", "api", "--method", method, path, "-H", "X-GitHub-Api-Version: 2022-11-28"]
    return argv + (["--input", "-"] if body is not None else [])


def gh_api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    sent = None if body is None else json.dumps(body)
    return json.loads(proc.run(api_argv(method, path, body), input=sent).stdout or "null")


def setup(
    delivery: DeliveryParams,
    repo: str | None,
    reviewers: Sequence[str],
    checks: Sequence[str],
    apply: bool,
    allow_actions_prs: bool,
) -> None:
    repo = repository(repo, delivery.remote)
    ci_checks, workflow_envs = workflow_facts()
    others = [e for e in workflow_envs if e not in delivery.environments]
    parsed = [reviewer(r) for r in reviewers]
    if not parsed and len(delivery.environments) > 1:
        gated = ", ".join(delivery.environments[1:])
        message = f"{gated}: no required reviewer; pass --reviewer user:LOGIN or team:ORG/SLUG"
        if apply:
            raise GitHubError(message)
        click.echo(f"# warning: {message}", err=True)
    ids = [{"type": kind, "id": gh_api("GET", path)["id"] if apply else 0} for kind, path in parsed]
    existing = (
        {r["name"]: int(r["id"]) for r in gh_api("GET", f"repos/{repo}/rulesets") or []} if apply else {}
    )
    calls = plan(repo, delivery, checks or ci_checks, ids, allow_actions_prs, existing, others)
    if not apply:
        click.echo(
            "# dry run: the requests `mlapp delivery github-setup --apply` sends (reviewer ids resolved then)"
        )
    for method, path, body, why in calls:
        if not apply:
            argv = " ".join(shlex.quote(word) for word in api_argv(method, path, body))
            click.echo(f"\n# {why}\n{argv} <<'JSON'\n{json.dumps(body, indent=2)}\nJSON")
            continue
        if path.endswith("deployment-branch-policies"):  # unique per name: skip one that exists
            listed = gh_api("GET", path) or {}
            if any(p.get("name") == (body or {}).get("name") for p in listed.get("branch_policies", [])):
                continue
        gh_api(method, path, body)
        click.echo(f"done: {method} {path}  # {why}")
