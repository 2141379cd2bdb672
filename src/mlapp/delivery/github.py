"""GitHub through the ``gh`` CLI: attestation checks and repository setup.

Every call is built as data first (argv or an API request), so tests check exactly what
would be sent without a network; ``run`` is the only function that executes anything.
``gh`` authenticates with ``GH_TOKEN`` (the job's token in Actions, an admin's token for
``mlapp delivery github-setup``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlapp import proc
from mlapp.delivery.images import ImageRef
from mlapp.errors import UserError

CD_WORKFLOW = ".github/workflows/cd.yml"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
GITHUB_ACTIONS_APP_ID = 15368  # the "GitHub Actions" integration, a bypass actor in rulesets


class GitHubError(UserError, RuntimeError):
    pass


def repository(explicit: str | None = None) -> str:
    repo = explicit or os.environ.get("GITHUB_REPOSITORY")
    if not repo or repo.count("/") != 1:
        raise GitHubError("which repository? pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    return repo


def repository_or_none() -> str | None:
    repo = os.environ.get("GITHUB_REPOSITORY")
    return repo if repo and repo.count("/") == 1 else None


def run(argv: list[str], input_: str | None = None) -> str:
    return proc.run(argv, input=input_).stdout


# --- supply chain -----------------------------------------------------------------------


def verify_attestation_argv(ref: ImageRef, repo: str) -> list[str]:
    """``gh attestation verify`` pinned to: this repo, the cd workflow, on main, GitHub-hosted."""
    return ["gh", "attestation", "verify", f"oci://{ref}", "--repo", repo,
            "--signer-workflow", f"{repo}/{CD_WORKFLOW}", "--source-ref", "refs/heads/main",
            "--predicate-type", SLSA_PROVENANCE, "--deny-self-hosted-runners",
            "--format", "json"]  # fmt: skip


def verify_attestation(ref: ImageRef, repo: str) -> int:
    """Number of verified attestations; raises when there is none."""
    out = run(verify_attestation_argv(ref, repo))
    results = json.loads(out or "[]")
    if not results:
        raise GitHubError(f"no verified provenance attestation for {ref}")
    return len(results)


# --- repository setup ---------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    body: dict[str, Any] | None = None
    why: str = ""

    def argv(self) -> list[str]:
        argv = ["gh", "api", "--method", self.method, self.path, "-H", "X-GitHub-Api-Version: 2022-11-28"]
        if self.body is not None:
            argv += ["--input", "-"]
        return argv


@dataclass(frozen=True)
class Reviewer:
    kind: str  # "User" or "Team"
    name: str  # login, or org/team-slug

    @classmethod
    def parse(cls, text: str) -> Reviewer:
        kind, _, name = text.partition(":")
        kinds = {"user": "User", "team": "Team"}
        if kind not in kinds or not name or (kind == "team" and name.count("/") != 1):
            raise GitHubError(f"reviewer {text!r}: expected user:LOGIN or team:ORG/SLUG")
        return cls(kinds[kind], name)

    def lookup(self) -> ApiCall:
        if self.kind == "User":
            return ApiCall("GET", f"users/{self.name}")
        org, slug = self.name.split("/")
        return ApiCall("GET", f"orgs/{org}/teams/{slug}")


@dataclass(frozen=True)
class SetupOptions:
    repo: str
    reviewers: tuple[Reviewer, ...]
    required_checks: tuple[str, ...]
    state_branch: str
    environments: tuple[str, ...]  # params: the first deploys on merge, the others need approval
    default_branch: str = "main"
    approvals: int = 1
    reviewer_ids: Mapping[Reviewer, int] = field(default_factory=dict)
    other_environments: tuple[str, ...] = ()  # used by other workflows: deploy from main only
    allow_actions_prs: bool = False  # the job token may open PRs (retrain.yml without CT_TOKEN)


def environment_calls(opts: SetupOptions) -> list[ApiCall]:
    """Every environment deploys from main only; all but the first need a reviewer (no self-review)."""
    policy = {"deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}}
    reviewers = [{"type": r.kind, "id": opts.reviewer_ids.get(r, 0)} for r in opts.reviewers]
    gated = {"wait_timer": 0, "prevent_self_review": True, "can_admins_bypass": False, "reviewers": reviewers}
    envs, path = (*opts.environments, *opts.other_environments), f"repos/{opts.repo}/environments"
    approval = [0 < i < len(opts.environments) for i in range(len(envs))]
    why = {True: "required reviewers, no self-review, admins cannot bypass", False: "main only"}
    branch = {"name": opts.default_branch, "type": "branch"}
    return [ApiCall("PUT", f"{path}/{env}", {**(gated if gate else {}), **policy}, f"{env}: {why[gate]}")
            for env, gate in zip(envs, approval, strict=True)] + [
        ApiCall("POST", f"{path}/{env}/deployment-branch-policies", branch, f"{env}: deployment branch")
        for env in envs]  # fmt: skip


def ruleset_bodies(opts: SetupOptions) -> list[dict[str, Any]]:
    """Branch rules: reviewed, green, linear main; an append-only deploy branch only CI writes."""
    review = {"required_approving_review_count": opts.approvals, "dismiss_stale_reviews_on_push": True,
              "require_code_owner_review": False, "require_last_push_approval": True,
              "required_review_thread_resolution": True,
              "allowed_merge_methods": ["squash", "rebase"]}  # fmt: skip
    checks = {"strict_required_status_checks_policy": True, "do_not_enforce_on_create": False,
              "required_status_checks": [{"context": c} for c in opts.required_checks]}  # fmt: skip
    main_rules = [{"type": "deletion"}, {"type": "non_fast_forward"}, {"type": "required_linear_history"},
                  {"type": "pull_request", "parameters": review}]  # fmt: skip
    main_rules += [{"type": "required_status_checks", "parameters": checks}] if opts.required_checks else []
    bypass = {"actor_id": GITHUB_ACTIONS_APP_ID, "actor_type": "Integration", "bypass_mode": "always"}
    return [  # the deploy branch: only workflows (the job token) write it, never rewriting history
        {"name": f"protect {opts.default_branch}", "target": "branch", "enforcement": "active",
         "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
         "rules": main_rules, "bypass_actors": []},
        {"name": f"deploy state ({opts.state_branch})", "target": "branch", "enforcement": "active",
         "conditions": {"ref_name": {"include": [f"refs/heads/{opts.state_branch}"], "exclude": []}},
         "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}, {"type": "update"}],
         "bypass_actors": [bypass]},
    ]  # fmt: skip


def ruleset_calls(opts: SetupOptions, existing: Mapping[str, int]) -> list[ApiCall]:
    """Create each ruleset, or update the one of the same name (so setup can be re-run)."""
    path = f"repos/{opts.repo}/rulesets"
    return [ApiCall("PUT", f"{path}/{existing[b['name']]}", b, f"ruleset {b['name']!r}")
            if b["name"] in existing else ApiCall("POST", path, b, f"ruleset {b['name']!r}")
            for b in ruleset_bodies(opts)]  # fmt: skip


def actions_calls(opts: SetupOptions) -> list[ApiCall]:
    """The job token is read-only unless a workflow widens it; by default it cannot open or approve PRs."""
    body = {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": opts.allow_actions_prs,
    }
    why = "Actions: read-only token by default" + ("; may open PRs" if opts.allow_actions_prs else "")
    return [ApiCall("PUT", f"repos/{opts.repo}/actions/permissions/workflow", body, why)]


def plan(opts: SetupOptions, existing_rulesets: Mapping[str, int]) -> list[ApiCall]:
    return [*actions_calls(opts), *environment_calls(opts), *ruleset_calls(opts, existing_rulesets)]


def execute(calls: Iterable[ApiCall]) -> None:
    for call in calls:
        if call.path.endswith("deployment-branch-policies"):  # unique per name: skip one that exists
            listed = json.loads(run(ApiCall("GET", call.path).argv()) or "{}")
            if any(p.get("name") == (call.body or {}).get("name") for p in listed.get("branch_policies", [])):
                continue
        run(call.argv(), json.dumps(call.body) if call.body is not None else None)


def existing_rulesets(repo: str) -> dict[str, int]:
    out = run(ApiCall("GET", f"repos/{repo}/rulesets").argv())
    return {r["name"]: int(r["id"]) for r in json.loads(out or "[]")}


def resolve_reviewers(reviewers: Iterable[Reviewer]) -> dict[Reviewer, int]:
    return {r: int(json.loads(run(r.lookup().argv()))["id"]) for r in reviewers}
