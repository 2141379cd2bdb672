"""``mlapp delivery github-setup``: print (default) or send the repository settings delivery relies on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import yaml

from mlapp import proc
from mlapp.delivery import github
from mlapp.params import Params

CI_WORKFLOW = Path(".github/workflows/ci.yml")


def repo_from_remote(url: str | None) -> str | None:
    match = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url or "")
    return match.group(1) if match else None


def ci_checks(path: Path = CI_WORKFLOW) -> tuple[str, ...]:
    """Status check names GitHub reports for the ci workflow: each job's name (or id)."""
    if not path.is_file():
        return ()
    jobs = (yaml.safe_load(path.read_text()) or {}).get("jobs") or {}
    return tuple(str(job.get("name") or job_id) for job_id, job in jobs.items())


def workflow_environments(folder: Path = CI_WORKFLOW.parent) -> tuple[str, ...]:
    """Literal ``environment:`` names used by any workflow, in first-seen order."""
    names: list[str] = []
    for path in sorted(folder.glob("*.y*ml")):
        for job in ((yaml.safe_load(path.read_text()) or {}).get("jobs") or {}).values():
            env = job.get("environment")
            name = env.get("name") if isinstance(env, dict) else env
            if isinstance(name, str) and "${{" not in name and name not in names:
                names.append(name)
    return tuple(names)


def options(
    params: Params,
    repo: str | None,
    reviewers: tuple[str, ...],
    checks: tuple[str, ...],
    allow_actions_prs: bool = False,
) -> github.SetupOptions:
    remote = proc.run(["git", "remote", "get-url", params.delivery.remote], check=False).stdout.strip()
    name = repo or github.repository_or_none() or repo_from_remote(remote)
    if not name:
        raise github.GitHubError("which repository? pass --repo OWNER/NAME")
    return github.SetupOptions(
        repo=name,
        reviewers=tuple(github.Reviewer.parse(r) for r in reviewers),
        required_checks=checks or ci_checks(),
        state_branch=params.delivery.state_branch,
        environments=tuple(params.delivery.environments),
        other_environments=tuple(e for e in workflow_environments() if e not in params.delivery.environments),
        allow_actions_prs=allow_actions_prs,
    )


def main(
    params: Params,
    repo: str | None,
    reviewers: tuple[str, ...],
    checks: tuple[str, ...],
    apply: bool,
    allow_actions_prs: bool = False,
) -> None:
    opts = options(params, repo, reviewers, checks, allow_actions_prs)
    if not opts.reviewers and len(opts.environments) > 1:
        gated = ", ".join(opts.environments[1:])
        message = f"{gated}: no required reviewer; pass --reviewer user:LOGIN or team:ORG/SLUG"
        if apply:
            raise github.GitHubError(message)
        click.echo(f"# warning: {message}", err=True)
    if apply:
        ids = github.resolve_reviewers(opts.reviewers)
        opts = github.SetupOptions(**{**opts.__dict__, "reviewer_ids": ids})
        calls = github.plan(opts, github.existing_rulesets(opts.repo))
        github.execute(calls)
        for call in calls:
            click.echo(f"done: {call.method} {call.path}  # {call.why}")
        return
    click.echo(
        "# dry run: the requests `mlapp delivery github-setup --apply` sends (reviewer ids resolved then)"
    )
    for call in github.plan(opts, {}):
        argv = " ".join(shlex.quote(word) for word in call.argv())
        click.echo(f"\n# {call.why}\n{argv} <<'JSON'")
        click.echo(json.dumps(call.body, indent=2) if call.body is not None else "")
        click.echo("JSON")
