"""GitHub through the ``gh`` CLI: attestation checks, release records and repository setup.

Every call is built as data first (argv or an API request), so tests check exactly what
would be sent without a network; ``run`` is the only function that executes anything.
``gh`` authenticates with ``GH_TOKEN`` (the job's token in Actions, an admin's token for
``mlapp delivery github-setup``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    if shutil.which(argv[0]) is None:
        raise GitHubError(
            f"{argv[0]} not found on PATH (GitHub's runners have it; locally: https://cli.github.com)"
        )
    done = subprocess.run(argv, input=input_, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GitHubError(f"{' '.join(argv[:4])} ... failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


# --- supply chain -----------------------------------------------------------------------


def verify_attestation_argv(
    ref: ImageRef, repo: str, workflow: str = CD_WORKFLOW, ref_name: str = "main"
) -> list[str]:
    """``gh attestation verify`` pinned to: this repo, the cd workflow, on main, GitHub-hosted."""
    return [
        "gh", "attestation", "verify", f"oci://{ref}",
        "--repo", repo,
        "--signer-workflow", f"{repo}/{workflow}",
        "--source-ref", f"refs/heads/{ref_name}",
        "--predicate-type", SLSA_PROVENANCE,
        "--deny-self-hosted-runners",
        "--format", "json",
    ]  # fmt: skip


def verify_attestation(ref: ImageRef, repo: str) -> int:
    """Number of verified attestations; raises when there is none."""
    out = run(verify_attestation_argv(ref, repo))
    results = json.loads(out or "[]")
    if not results:
        raise GitHubError(f"no verified provenance attestation for {ref}")
    return len(results)


def release_argv(repo: str, tag: str, target: str, title: str, notes_file: str) -> list[str]:
    return [
        "gh", "release", "create", tag,
        "--repo", repo,
        "--target", target,
        "--title", title,
        "--notes-file", notes_file,
        "--latest",
    ]  # fmt: skip


def pull_requests_for(repo: str, commit: str) -> list[dict[str, Any]]:
    """PRs that merged ``commit`` (where the PR report lives); empty if GitHub cannot say."""
    try:
        out = run(["gh", "api", f"repos/{repo}/commits/{commit}/pulls"])
    except GitHubError:
        return []
    return [
        {"number": p["number"], "title": p["title"], "url": p["html_url"]}
        for p in json.loads(out or "[]")
        if p.get("merged_at")
    ]


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
    default_branch: str = "main"
    approvals: int = 1
    reviewer_ids: Mapping[Reviewer, int] = field(default_factory=dict)
    other_environments: tuple[str, ...] = ()  # used by other workflows: deploy from main only
    allow_actions_prs: bool = False  # the job token may open PRs (retrain.yml without CT_TOKEN)


def environment_calls(opts: SetupOptions) -> list[ApiCall]:
    """staging: deploys from main only. production: reviewers, no self-review, no admin bypass."""
    repo, main = opts.repo, opts.default_branch
    branch_policy = {"protected_branches": False, "custom_branch_policies": True}
    reviewers = [{"type": r.kind, "id": opts.reviewer_ids.get(r, 0)} for r in opts.reviewers]
    calls = [
        ApiCall(
            "PUT",
            f"repos/{repo}/environments/staging",
            {"deployment_branch_policy": branch_policy},
            "staging: only main deploys",
        ),
        ApiCall(
            "PUT",
            f"repos/{repo}/environments/production",
            {
                "wait_timer": 0,
                "prevent_self_review": True,
                "can_admins_bypass": False,
                "reviewers": reviewers,
                "deployment_branch_policy": branch_policy,
            },
            "production: required reviewers, no self-review, admins cannot bypass",
        ),
    ]
    for env in opts.other_environments:
        calls.append(
            ApiCall(
                "PUT",
                f"repos/{repo}/environments/{env}",
                {"deployment_branch_policy": branch_policy},
                f"{env}: only {main} runs it",
            )
        )
    for env in ("staging", "production", *opts.other_environments):
        calls.append(
            ApiCall(
                "POST",
                f"repos/{repo}/environments/{env}/deployment-branch-policies",
                {"name": main, "type": "branch"},
                f"{env}: deployment branch {main}",
            )
        )
    return calls


def ruleset_bodies(opts: SetupOptions) -> list[dict[str, Any]]:
    """Branch rules: reviewed, green, linear main; an append-only deploy branch only CI writes."""
    main_rules: list[dict[str, Any]] = [
        {"type": "deletion"},
        {"type": "non_fast_forward"},
        {"type": "required_linear_history"},
        {
            "type": "pull_request",
            "parameters": {
                "required_approving_review_count": opts.approvals,
                "dismiss_stale_reviews_on_push": True,
                "require_code_owner_review": False,
                "require_last_push_approval": True,
                "required_review_thread_resolution": True,
                "allowed_merge_methods": ["squash", "rebase"],
            },
        },
    ]
    if opts.required_checks:
        main_rules.append(
            {
                "type": "required_status_checks",
                "parameters": {
                    "strict_required_status_checks_policy": True,
                    "do_not_enforce_on_create": False,
                    "required_status_checks": [{"context": c} for c in opts.required_checks],
                },
            }
        )
    return [
        {
            "name": f"protect {opts.default_branch}",
            "target": "branch",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
            "rules": main_rules,
            "bypass_actors": [],
        },
        {
            # Only workflows (with the job token) write here, and never rewrite history.
            "name": f"deploy state ({opts.state_branch})",
            "target": "branch",
            "enforcement": "active",
            "conditions": {"ref_name": {"include": [f"refs/heads/{opts.state_branch}"], "exclude": []}},
            "rules": [{"type": "deletion"}, {"type": "non_fast_forward"}, {"type": "update"}],
            "bypass_actors": [
                {"actor_id": GITHUB_ACTIONS_APP_ID, "actor_type": "Integration", "bypass_mode": "always"}
            ],
        },
    ]


def ruleset_calls(opts: SetupOptions, existing: Mapping[str, int]) -> list[ApiCall]:
    """Create each ruleset, or update the one of the same name (so setup can be re-run)."""
    calls = []
    for body in ruleset_bodies(opts):
        rid = existing.get(body["name"])
        if rid is None:
            calls.append(ApiCall("POST", f"repos/{opts.repo}/rulesets", body, f"ruleset {body['name']!r}"))
        else:
            calls.append(
                ApiCall("PUT", f"repos/{opts.repo}/rulesets/{rid}", body, f"ruleset {body['name']!r}")
            )
    return calls


def actions_calls(opts: SetupOptions) -> list[ApiCall]:
    """The job token is read-only unless a workflow widens it; by default it cannot open or approve PRs."""
    return [
        ApiCall(
            "PUT",
            f"repos/{opts.repo}/actions/permissions/workflow",
            {
                "default_workflow_permissions": "read",
                "can_approve_pull_request_reviews": opts.allow_actions_prs,
            },
            "Actions: read-only token by default"
            + ("; may open PRs" if opts.allow_actions_prs else "; cannot create or approve PRs"),
        )
    ]


def plan(opts: SetupOptions, existing_rulesets: Mapping[str, int]) -> list[ApiCall]:
    return [*actions_calls(opts), *environment_calls(opts), *ruleset_calls(opts, existing_rulesets)]


def execute(calls: Iterable[ApiCall]) -> None:
    for call in calls:
        try:
            run(call.argv(), json.dumps(call.body) if call.body is not None else None)
        except GitHubError as exc:
            # Branch policies are unique per name: an existing one is what we want anyway.
            if call.path.endswith("deployment-branch-policies") and "already exists" in str(exc):
                continue
            raise


def existing_rulesets(repo: str) -> dict[str, int]:
    out = run(ApiCall("GET", f"repos/{repo}/rulesets").argv())
    return {r["name"]: int(r["id"]) for r in json.loads(out or "[]")}


def resolve_reviewers(reviewers: Iterable[Reviewer]) -> dict[Reviewer, int]:
    return {r: int(json.loads(run(r.lookup().argv()))["id"]) for r in reviewers}
