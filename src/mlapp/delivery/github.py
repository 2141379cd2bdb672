"""GitHub: the attestation check before a deploy, the repository setup (workflow rules: mlapp.workflows).

``GH_TOKEN`` authenticates ``gh`` and the REST API: the job's token in Actions, an admin's
token for ``mlapp delivery github-setup``. The setup is a list of API requests built as data:
printed by default, sent with ``--apply``; re-running it updates what exists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import click

from mlapp import git, proc
from mlapp.params import DeliveryParams
from mlapp.report.github import Api, GitHubError
from mlapp.workflows import workflow_facts

CD_WORKFLOW = ".github/workflows/cd.yml"
GITHUB_ACTIONS_APP_ID = 15368  # the "GitHub Actions" integration, a bypass actor in rulesets
Call = tuple[str, str, dict[str, Any] | None, str]  # method, path, body, why


def repository(given: str | None = None, remote: str | None = None, option: str = "") -> str:
    """OWNER/NAME: ``given`` (as ``option``), else ``GITHUB_REPOSITORY``, else the git ``remote``'s URL."""
    url = (git.remote_url(remote) if remote else None) or ""
    repo = given or os.environ.get("GITHUB_REPOSITORY") or (git.remote_repo(url) or ("", ""))[1]
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        ask = f"which repository? pass {option} OWNER/NAME or set" if option else "which repository? set"
        raise GitHubError(f"{option} {given!r} is not OWNER/NAME" if given else f"{ask} GITHUB_REPOSITORY")
    return repo


def verify_attestation(ref: str, repo: str) -> int:
    """How many provenance attestations of ``ref`` this repo's cd workflow on main signed (none: exit 1)."""
    signer = ["--signer-workflow", f"{repo}/{CD_WORKFLOW}", "--source-ref", "refs/heads/main"]
    checks = ["--predicate-type", "https://slsa.dev/provenance/v1", "--deny-self-hosted-runners"]
    argv = ["gh", "attestation", "verify", f"oci://{ref}", "--repo", repo, *signer, *checks, "--format=json"]
    return len(json.loads(proc.run(argv).stdout))


def reviewer(text: str) -> tuple[str, str]:
    """``user:LOGIN`` / ``team:ORG/SLUG`` -> (reviewer type, the API path that has its id)."""
    if not (match := re.fullmatch(r"user:([^/]+)|team:([^/]+)/([^/]+)", text)):
        raise GitHubError(f"reviewer {text!r}: expected user:LOGIN or team:ORG/SLUG")
    return ("User", f"users/{match[1]}") if match[1] else ("Team", f"orgs/{match[2]}/teams/{match[3]}")


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
    api = Api() if apply else None
    ids = [{"type": kind, "id": api.get(path)["id"] if api else 0} for kind, path in parsed]
    existing = {r["name"]: int(r["id"]) for r in api.pages(f"repos/{repo}/rulesets")} if api else {}
    calls = plan(repo, delivery, checks or ci_checks, ids, allow_actions_prs, existing, others)
    if api is None:
        click.echo("# dry run: the requests `--apply` sends (reviewer ids resolved then)")
        for method, path, body, why in calls:
            click.echo(f"\n# {why}\n{method} {path}" + (f"\n{json.dumps(body, indent=2)}" if body else ""))
        return
    for method, path, body, why in calls:
        listed = api.get(path)["branch_policies"] if path.endswith("deployment-branch-policies") else []
        if any(p.get("name") == (body or {}).get("name") for p in listed):  # unique per name: keep it
            continue
        api.request(method, path, body)
        click.echo(f"done: {method} {path}  # {why}")
