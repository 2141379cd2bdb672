"""The GitHub side of the PR loop, for the commenting workflow, which never runs PR code.

``pr_for_run`` finds the pull request to comment on from the triggering workflow run, never
from the artifact (PR code wrote the artifact: it is data, not instructions). Same-repository
PRs are listed on the run; for fork PRs that list is empty, so the PR is looked up by head
repository and branch, then by commit. Whatever the route, the PR must be open and its head
must still be the run's commit: a run that finishes late never overwrites a newer report.

``comment_body`` turns the downloaded report into inert text: local links and images are
removed (they point at files of the runner, never at anything the comment can show), the size
is bounded, and the footer is written here, not by the PR. ``upsert_comment`` keeps ONE report
comment per PR: it reads every page of the PR's comments (GitHub pages at 30 by default) for
the one that starts with ``MARKER`` and that this token wrote (a bot's, or the person's whose token
it is: anyone can post the marker), and edits it, or creates it. Only the REST API is used: no
git, so nothing is written to the user's git configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from mlapp.errors import UserError
from mlapp.markdown_table import cut_to

Get = Callable[[str], Any]

WATERMARK = "mlapp-pr-report"
MARKER = f"<!-- {WATERMARK} -->"  # first line of the report comment: how the next run finds it
MAX_BYTES = 1_000_000  # read no more of a downloaded report than this
API_VERSION = "2022-11-28"

INLINE = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*<?([^()\s>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*<?(\S*?)>?(?:[ \t].*)?$", re.MULTILINE)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^<>\s]*)>")
# What would make the bot's comment notify or fetch: @user and @org/team mentions, #12, GH-12 and
# owner/repo#12 references and github.com URLs (a backlink in that issue), images. A zero-width
# space after the @, #, GH or github.com (invisible, in code too) breaks each; an HTML image tag
# shows as text.
MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9])")
REFERENCE = re.compile(r"(?<!&)#(?=[0-9]+\b)")  # not an entity (&#64;) nor a colour (#1f77b4)
GH_REFERENCE = re.compile(r"(?<![\w-])(gh)-(?=[0-9]+\b)", re.IGNORECASE)  # GH-12: GitHub's other #12
SIGN_ENTITY = re.compile(r"&(?:(commat)|num|#0*(?:(64)|35)|#x0*(?:(40)|23));", re.IGNORECASE)  # @ or #
GITHUB_URL = re.compile(r"(?<=github\.com)/", re.IGNORECASE)  # an issue's URL backlinks it too
HTML_IMAGE = re.compile(r"<(?=\s*/?\s*(?:img|image|picture|source|video|audio|svg)\b)", re.IGNORECASE)


class GitHubError(UserError, RuntimeError):
    """GitHub refused or could not be reached, or what to ask it is not well formed."""


class Api:
    """GitHub's REST API: base from ``GITHUB_API_URL`` (set by Actions), token from ``GH_TOKEN``."""

    def __init__(self, base_url: str | None = None, token: str | None = None) -> None:
        base = (base_url or os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        token = token or os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        if not token:
            raise GitHubError("GH_TOKEN is not set: the job's token (or a personal token) is needed")
        self.base = base + "/"
        self.client = httpx.Client(
            base_url=self.base,
            timeout=30,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.TransportError as exc:  # offline, DNS, TLS, a timeout: one line, not a traceback
            raise GitHubError(f"{method} {path}: {self.base} cannot be reached: {exc}") from exc
        if response.is_error:
            raise GitHubError(f"{method} {path}: HTTP {response.status_code}: {response.text[:500]}")
        return response

    def get(self, path: str) -> Any:
        return self.request("GET", path).json()

    def pages(self, path: str) -> Iterator[Any]:
        """Every item of a list endpoint, following the ``Link: rel="next"`` pages."""
        url: str | None = path
        while url:
            response = self.request("GET", url)
            yield from response.json()
            url = response.links.get("next", {}).get("url")
            if url and not url.startswith(self.base):  # the token goes to GitHub only
                raise GitHubError(f"next page outside {self.base}: {url}")


def pr_for_run(repo: str, run_id: int, get: Get) -> int | None:
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


def quiet(text: str) -> str:
    """Nothing in ``text`` notifies anyone or loads anything when GitHub shows the bot's comment:
    the PR's code wrote it, and a mention from the bot reaches people who blocked the PR's author."""
    text = SIGN_ENTITY.sub(lambda m: "@" if any(m.groups()) else "#", text)  # GitHub reads &#64; as @
    text = REFERENCE.sub("#\u200b", MENTION.sub("@\u200b", GH_REFERENCE.sub("\\1\u200b-", text)))
    text = GITHUB_URL.sub("\u200b/", text)  # no link or backlink into any repository's issues
    return HTML_IMAGE.sub("&lt;", text.replace("![", "["))  # no image: the honest report has none


def comment_body(raw: bytes, run_url: str, max_chars: int, *, compared: bool) -> str:
    """``compared``: the artifact holds a comparison (report.json, plots), not only report.md."""
    holds = (
        "PNG plots and `report.json` are in its `pr-report` artifact. "
        "The merge decision is the `quality gate` step of that run."
        if compared
        else "its `pr-report` artifact holds this report only."
    )
    footer = (
        "\n\n---\n<sub>Posted by the PR comment workflow from the report artifact of "
        f"[this workflow run]({run_url}); {holds}</sub>\n"
    )
    text = quiet(inert(raw.decode("utf-8", errors="replace").replace("\0", ""))).rstrip() + "\n"
    return cut_to(text, max_chars - len(footer), "report.md") + footer


def token_login(api: Api) -> str | None:
    """The login of a person's token; None for an app's (the job's ``github.token``: a bot), to
    which GitHub does not answer ``/user``."""
    try:
        return str(api.get("user")["login"])
    except GitHubError:
        return None


def is_ours(comment: dict[str, Any], login: str | None) -> bool:
    """A report comment this token wrote: the MARKER alone is not enough, since anyone can post
    it on any PR, and the latest such comment would get the report (or stop its updates)."""
    user = comment.get("user") or {}
    author = user.get("type") == "Bot" if login is None else user.get("login") == login
    return author and str(comment.get("body") or "").startswith(MARKER)


def upsert_comment(api: Api, repo: str, number: int, body: str) -> tuple[str, int]:
    """Edit the PR's report comment (the one starting with MARKER) or create it: (verb, comment id)."""
    body, login = f"{MARKER}\n{body}", token_login(api)
    ours = [c for c in api.pages(f"repos/{repo}/issues/{number}/comments?per_page=100") if is_ours(c, login)]
    if ours:
        comment_id = int(ours[-1]["id"])
        api.request("PATCH", f"repos/{repo}/issues/comments/{comment_id}", {"body": body})
        return "updated", comment_id
    created = api.request("POST", f"repos/{repo}/issues/{number}/comments", {"body": body}).json()
    return "created", int(created["id"])


def post(
    repo: str, run_id: int, report: Path, *, run_url: str, max_chars: int, api: Api | None = None
) -> int | None:
    """Post the report of ``run_id`` on its PR; the PR number, or None when there is none."""
    api = api or Api()
    number = pr_for_run(repo, run_id, api.get)
    if number is None:
        return None
    if report.is_symlink() or not report.is_file():
        raise GitHubError(f"{report}: not a regular file (the artifact is data; nothing else is read)")
    with report.open("rb") as handle:
        raw = handle.read(MAX_BYTES)
    # Only report.md is read; report.json beside it is what a comparison writes (none without a base).
    compared = (report.parent / "report.json").is_file()
    body = comment_body(raw, run_url, max_chars - len(MARKER) - 1, compared=compared)
    upsert_comment(api, repo, number, body)
    return number
