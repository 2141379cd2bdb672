"""The GitHub side of the PR loop, for the commenting workflow, which never runs PR code.

``pr_for_run`` finds the pull request to comment on from the triggering workflow run, never
from the artifact (PR code wrote the artifact: it is data, not instructions). Same-repository
PRs are listed on the run; for fork PRs that list is empty, so the PR is looked up by head
repository and branch, then by commit. Whatever the route, the PR must be open and its head
must still be the run's commit: a run that finishes late never overwrites a newer report.

``comment_body`` turns the downloaded report into inert text: local links and images are
removed (CML uploads the local files a report names, which a crafted report could point at
runner files), the size is bounded, and the footer is written here, not by the PR.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mlapp.delivery.github import ApiCall, GitHubError, run

Get = Callable[[str], Any]
Execute = Callable[[list[str]], str]

WATERMARK = "mlapp-pr-report"  # CML finds the comment to update by this marker
MAX_BYTES = 1_000_000  # read no more of a downloaded report than this

INLINE = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^()\s>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*<?(\S*?)>?(?:[ \t].*)?$", re.MULTILINE)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^<>\s]*)>")
TRUNCATED = "\n\n… (truncated: the full report is `report.md` in the artifact)\n"


def api_get(path: str) -> Any:
    """GET a GitHub REST path with ``gh api`` (token from GH_TOKEN)."""
    return json.loads(run(ApiCall("GET", path).argv()) or "null")


def pr_for_run(repo: str, run_id: int, get: Get = api_get) -> int | None:
    workflow_run = get(f"repos/{repo}/actions/runs/{run_id}")
    sha = workflow_run["head_sha"]
    candidates = [int(p["number"]) for p in workflow_run.get("pull_requests") or []]
    if not candidates:  # a fork PR: GitHub leaves the run's list empty
        owner = ((workflow_run.get("head_repository") or {}).get("owner") or {}).get("login")
        branch = workflow_run.get("head_branch")
        if owner and branch:
            query = urlencode({"state": "open", "head": f"{owner}:{branch}", "per_page": 100})
            candidates = [int(p["number"]) for p in get(f"repos/{repo}/pulls?{query}") or []]
    if not candidates:
        candidates = [int(p["number"]) for p in get(f"repos/{repo}/commits/{sha}/pulls") or []]
    for number in candidates:
        pull = get(f"repos/{repo}/pulls/{number}")
        if pull.get("state") == "open" and (pull.get("head") or {}).get("sha") == sha:
            return number
    return None


def _remote(url: str) -> bool:
    return url.startswith(("https://", "http://", "#"))


def inert(text: str) -> str:
    """Drop every link or image that does not point at the web (relative paths, file:, data:)."""

    def inline(match: re.Match[str]) -> str:
        bang, label, url = match.groups()
        if _remote(url):
            return match.group(0)
        return f"[image: {label}]" if bang else label

    text = INLINE.sub(inline, text)
    text = DEFINITION.sub(lambda m: m.group(0) if _remote(m.group(1)) else "", text)
    return AUTOLINK.sub(lambda m: m.group(0) if _remote(m.group(1)) else m.group(1), text)


def comment_body(raw: bytes, run_url: str, max_chars: int) -> str:
    footer = (
        "\n\n---\n<sub>Posted by the PR comment workflow from the report artifact of "
        f"[this workflow run]({run_url}); PNG plots and `report.json` are in its `pr-report` artifact. "
        "The merge decision is the `quality gate` step of that run.</sub>\n"
    )
    text = inert(raw.decode("utf-8", errors="replace").replace("\0", "")).rstrip() + "\n"
    room = max_chars - len(footer)
    if len(text) > room:
        text = text[: room - len(TRUNCATED)] + TRUNCATED
    return text + footer


def cml_argv(number: int, body: Path) -> list[str]:
    """Create or update the one comment; ``--no-publish``: never upload local files anywhere."""
    return [
        "cml", "comment", "update",
        f"--target=pr/{number}",
        f"--watermark-title={WATERMARK}",
        "--no-publish",
        str(body),
    ]  # fmt: skip


def post(
    repo: str,
    run_id: int,
    report: Path,
    run_url: str,
    max_chars: int,
    get: Get = api_get,
    execute: Execute = run,
) -> int | None:
    """Post the report of ``run_id`` on its PR; the PR number, or None when there is none."""
    number = pr_for_run(repo, run_id, get)
    if number is None:
        return None
    if report.is_symlink() or not report.is_file():
        raise GitHubError(f"{report}: not a regular file (the artifact is data; nothing else is read)")
    with report.open("rb") as handle:
        body = comment_body(handle.read(MAX_BYTES), run_url, max_chars)
    with tempfile.TemporaryDirectory(prefix="mlapp-comment-") as tmp:
        path = Path(tmp) / "comment.md"
        path.write_text(body)
        execute(cml_argv(number, path))
    return number
