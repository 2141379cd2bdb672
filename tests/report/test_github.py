"""The commenting workflow's commands: which PR, the artifact treated as data, ONE comment per PR."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlapp.report import github
from mlapp.report.github import GitHubError
from tests.conftest import answering, sh

SHA = "a" * 40
REPO = "org/app"


class FakeApi:
    """GitHub's REST answers for one scenario; records every path asked for."""

    def __init__(self, responses: dict[str, Any]) -> None:
        self.responses = responses
        self.asked: list[str] = []

    def __call__(self, path: str) -> Any:
        self.asked.append(path)
        return self.responses[path]


def pull(number: int, sha: str = SHA, state: str = "open") -> dict[str, Any]:
    return {"number": number, "state": state, "head": {"sha": sha}}


def run_payload(prs: list[dict[str, Any]], branch: str = "feature") -> dict[str, Any]:
    return {
        "head_sha": SHA,
        "head_branch": branch,
        "head_repository": {"owner": {"login": "forker"}},
        "pull_requests": prs,
    }


def test_same_repository_pr_comes_from_the_run() -> None:
    api = FakeApi(
        {f"repos/{REPO}/actions/runs/7": run_payload([pull(12)]), f"repos/{REPO}/pulls/12": pull(12)}
    )
    assert github.pr_for_run(REPO, 7, api) == 12
    assert api.asked == [f"repos/{REPO}/actions/runs/7", f"repos/{REPO}/pulls/12"]


def test_fork_pr_is_found_by_head_owner_and_branch() -> None:
    listing = f"repos/{REPO}/pulls?state=open&head=forker%3Afix%2Fa+b%26c&per_page=100"
    api = FakeApi(
        {
            f"repos/{REPO}/actions/runs/7": run_payload([], branch="fix/a b&c"),  # encoded, not injected
            listing: [pull(31)],
            f"repos/{REPO}/pulls/31": pull(31),
        }
    )
    assert github.pr_for_run(REPO, 7, api) == 31


def test_falls_back_to_the_commit_and_skips_closed_or_moved_prs() -> None:
    api = FakeApi(
        {
            f"repos/{REPO}/actions/runs/7": run_payload([]),
            f"repos/{REPO}/pulls?state=open&head=forker%3Afeature&per_page=100": [],
            f"repos/{REPO}/commits/{SHA}/pulls": [pull(40), pull(41), pull(42)],
            f"repos/{REPO}/pulls/40": pull(40, state="closed"),
            f"repos/{REPO}/pulls/41": pull(41, sha="b" * 40),  # a newer push: its own run comments
            f"repos/{REPO}/pulls/42": pull(42),
        }
    )
    assert github.pr_for_run(REPO, 7, api) == 42


def test_no_open_pr_for_the_commit_means_no_comment() -> None:
    api = FakeApi(
        {
            f"repos/{REPO}/actions/runs/7": run_payload([pull(5)]),
            f"repos/{REPO}/pulls/5": pull(5, sha="c" * 40),
        }
    )
    assert github.pr_for_run(REPO, 7, api) is None


def test_inert_keeps_web_links_and_drops_local_files() -> None:
    text = (
        "![roc](roc.png) ![web](https://example.com/x.png) [doc](../../etc/passwd "
        '"t") [ok](https://github.com) [top](#metrics)\n'
        "[ref]: /proc/self/environ\n[web]: https://example.com\n<file:///etc/passwd> <https://cml.dev>\n"
    )
    assert github.inert(text) == (
        "[image: roc] ![web](https://example.com/x.png) doc [ok](https://github.com) [top](#metrics)\n"
        "\n[web]: https://example.com\nfile:///etc/passwd <https://cml.dev>\n"
    )


def test_the_comment_mentions_references_and_fetches_nothing() -> None:
    """The PR's code writes the report: through the bot it must not notify people (also those who
    blocked the PR's author), backlink other issues, or make readers' browsers load an image."""
    attack = (
        "cc @octocat @org/security, &#64;eve &commat;bob &#x40;x; fixes #12 and other/repo#3 &#35;4\n"
        "closes GH-7 and gh-8 (GitHub's other way to write #7)\n"
        "see https://github.com/other/repo/issues/5 and [this](https://GitHub.com/other/repo/pull/6)\n"
        '![pixel](https://evil.example/p.gif) ![ref][r] <img src="https://evil.example/q"> < PICTURE>\n'
    )
    body = github.comment_body(attack.encode(), "u", 2000, compared=True)
    assert not re.search(r"(?<!\w)@\w|#\d|&#|&commat|!\[|<\s*(img|picture)", body, re.IGNORECASE)
    assert "@\u200boctocat @\u200borg/security" in body and "other/repo#\u200b3" in body
    assert not re.search(r"gh-\d", body, re.IGNORECASE) and "GH\u200b-7 and gh\u200b-8" in body
    assert "[pixel](https://evil.example/p.gif)" in body  # a link to click, not a fetch
    assert "github.com/" not in body.lower().replace("[this workflow run](u)", "")  # no backlinks
    honest = (
        "### Model report\n<details><summary>ROC</summary>\n\n| a | b |\n|---|---|\n"
        "| `mlapp@candidate` | a@b.com |\n</details>\n[top](#metrics) `make report BASE=<ref>` &amp;\n"
        '```mermaid\n%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": '
        '"#1f77b4, #ff7f0e"}}}}%%\n```\n'  # the report's chart colours stay colours
    )
    assert github.quiet(honest) == honest


def test_comment_body_is_bounded_and_ends_with_a_trusted_footer() -> None:
    url = "https://github.com/org/app/actions/runs/7"
    body = github.comment_body(b"### Report\n" + b"x" * 5000 + b"\0", url, 2000, compared=True)
    assert len(body) <= 2000
    note = "\n\n… (truncated to fit a GitHub comment; the full report is `report.md` in the artifact)\n"
    note += "\n\n---"  # the footer's rule
    assert note in body and body.endswith(
        "artifact. The merge decision is the `quality gate` step of that run.</sub>\n"
    )
    assert f"[this workflow run]({url})" in body
    short = github.comment_body("### ok ✅\n".encode(), url, 2000, compared=True)
    assert short.startswith("### ok ✅\n") and "truncated" not in short


class FakeGitHub(ThreadingHTTPServer):
    """GitHub's REST API for one PR, over real HTTP: a run, its PR and the PR's comments.

    Lists are paged at 30 whatever per_page asks (GitHub's default page), with ``Link`` headers,
    so a client that reads only the first page misses later comments.
    """

    PAGE = 30

    def __init__(
        self, comments: list[str | tuple[str, str]], pr_state: str = "open", login: str | None = None
    ) -> None:
        """``comments``: a body (the marker's are the bot's, the others a person's) or (body, login);
        ``login``: a person's token (None: the job's, to which ``/user`` is a 403)."""
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.comments = [{"id": 1000 + i, "body": body, "user": author(c)} for i, c in enumerate(comments)
                         if (body := c if isinstance(c, str) else c[0])]  # fmt: skip
        self.pr_state = pr_state
        self.login = login
        self.writes: list[tuple[str, str]] = []
        self.tokens: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


BOT = {"login": "github-actions[bot]", "type": "Bot"}  # the job's token writes as this bot


def author(comment: str | tuple[str, str]) -> dict[str, str]:
    if isinstance(comment, tuple):
        return {"login": comment[1], "type": "User"}
    return BOT if comment.startswith(github.MARKER) else {"login": "reviewer", "type": "User"}


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.tokens.add(self.headers.get("Authorization", ""))
        url = urlsplit(self.path)
        if url.path == f"/repos/{REPO}/actions/runs/7":
            return self._send(run_payload([pull(12)]))
        if url.path == f"/repos/{REPO}/pulls/12":
            return self._send(pull(12, state=self.server.pr_state))
        if url.path == f"/repos/{REPO}/issues/12/comments":
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            size = FakeGitHub.PAGE
            items = self.server.comments[(page - 1) * size : page * size]
            more = page * size < len(self.server.comments)
            link = f'<{self.server.url}{url.path}?per_page=100&page={page + 1}>; rel="next"'
            return self._send(items, headers={"Link": link} if more else None)
        if url.path == "/user":
            if self.server.login is None:
                return self._send({"message": "Resource not accessible by integration"}, 403)
            return self._send({"login": self.server.login, "type": "User"})
        return self._send({"message": "Not Found"}, 404)

    def _body(self) -> str:
        return str(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"])

    def do_PATCH(self) -> None:
        comment_id = int(self.path.rsplit("/", 1)[1])
        (comment,) = [c for c in self.server.comments if c["id"] == comment_id]
        comment["body"] = self._body()
        self.server.writes.append(("PATCH", self.path))
        self._send(comment)

    def do_POST(self) -> None:
        comment = {"id": 1000 + len(self.server.comments), "body": self._body(), "user": BOT}
        self.server.comments.append(comment)
        self.server.writes.append(("POST", self.path))
        self._send(comment, 201)


@contextmanager
def fake_github(comments: list[str | tuple[str, str]], **kwargs: Any) -> Iterator[FakeGitHub]:
    server = FakeGitHub(comments, **kwargs)
    with answering(server):
        yield server


def chatter(n: int) -> list[str]:
    return [f"review comment {i}" for i in range(n)]


def test_report_comment_beyond_the_first_page_is_edited_not_posted_again(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("### Model report\n![roc](roc.png)\nroc_auc 0.80\n")
    earlier = f"{github.MARKER}\n### Model report\nroc_auc 0.70\n"
    with fake_github([*chatter(32), earlier, *chatter(2)]) as server:  # 35 comments, ours is #33
        api = github.Api(server.url, "t0ken")
        url = "https://github.com/org/app/actions/runs/7"
        assert github.post(REPO, 7, report, run_url=url, max_chars=60_000, api=api) == 12
        assert server.writes == [("PATCH", f"/repos/{REPO}/issues/comments/1032")]
        assert len(server.comments) == 35
        body = server.comments[32]["body"]
        assert body.startswith(f"{github.MARKER}\n### Model report\n[image: roc]\nroc_auc 0.80\n")
        assert url in body
        assert server.tokens == {"Bearer t0ken"}


def test_first_report_is_created_once_then_edited(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("### Model report\n")
    with fake_github(chatter(35)) as server:
        api = github.Api(server.url, "t")
        for _ in range(2):
            github.post(REPO, 7, report, run_url="u", max_chars=60_000, api=api)
        assert server.writes == [
            ("POST", f"/repos/{REPO}/issues/12/comments"),
            ("PATCH", f"/repos/{REPO}/issues/comments/1035"),
        ]
        assert [c["body"].startswith(github.MARKER) for c in server.comments].count(True) == 1


def test_a_marker_comment_by_anyone_else_is_never_taken_for_the_report(tmp_path: Path) -> None:
    """Anyone can post the marker on any PR: taken as the report comment (the latest one was), it
    got the report under its author's name, to edit at will, and the bot's own stopped updating."""
    report = tmp_path / "report.md"
    report.write_text("### Model report\nroc_auc 0.80\n")
    planted = (f"{github.MARKER}\n### Model report\nroc_auc 0.99, merge it", "stranger")
    with fake_github([f"{github.MARKER}\nroc_auc 0.70\n", planted]) as server:
        github.post(REPO, 7, report, run_url="u", max_chars=60_000, api=github.Api(server.url, "t"))
        assert server.writes == [("PATCH", f"/repos/{REPO}/issues/comments/1000")]
        assert "0.80" in server.comments[0]["body"] and "0.99" in server.comments[1]["body"]
    with fake_github([planted]) as server:  # no report comment yet: one is created
        github.post(REPO, 7, report, run_url="u", max_chars=60_000, api=github.Api(server.url, "t"))
        assert server.writes == [("POST", f"/repos/{REPO}/issues/12/comments")]


def test_a_persons_token_edits_that_persons_report_comment(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("### Model report\n")
    mine = (f"{github.MARKER}\nold", "maintainer")
    with fake_github([mine, f"{github.MARKER}\nby a bot"], login="maintainer") as server:
        github.post(REPO, 7, report, run_url="u", max_chars=60_000, api=github.Api(server.url, "t"))
        assert server.writes == [("PATCH", f"/repos/{REPO}/issues/comments/1000")]


@pytest.mark.parametrize("compared", [True, False])
def test_footer_names_only_what_the_artifact_holds(tmp_path: Path, compared: bool) -> None:
    """A report without a comparison (no base model) has no report.json, plots or gate verdict."""
    report = tmp_path / "report.md"
    report.write_text("## Report\n")
    if compared:
        (tmp_path / "report.json").write_text("{}")
    with fake_github([]) as server:
        github.post(REPO, 7, report, run_url="u", max_chars=60_000, api=github.Api(server.url, "t"))
        footer = server.comments[0]["body"].split("---\n")[-1]
    mentions = ["`report.json`", "PNG plots", "`quality gate`"]
    assert [name in footer for name in mentions] == [compared] * 3
    assert "[this workflow run](u)" in footer


def test_post_skips_without_a_pr_and_refuses_a_symlinked_report(tmp_path: Path) -> None:
    link = tmp_path / "report.md"
    link.symlink_to("/etc/hostname")
    with fake_github([]) as server:
        with pytest.raises(GitHubError, match="not a regular file"):
            github.post(REPO, 7, link, run_url="u", max_chars=60_000, api=github.Api(server.url, "t"))
        assert server.writes == []
    with fake_github([], pr_state="closed") as server:
        api = github.Api(server.url, "t")
        assert github.post(REPO, 7, link, run_url="u", max_chars=60_000, api=api) is None
        assert server.writes == []


def test_cli_comment_uses_only_the_api_and_leaves_git_config_alone(tmp_path: Path) -> None:
    """The workflow's step as is: env from Actions, a HOME where any git config write would show."""
    home = tmp_path / "home"
    home.mkdir()
    report = tmp_path / "report.md"
    report.write_text("### Model report\n")
    repo_root = Path(__file__).resolve().parents[2]  # params.yaml: report.max_chars
    with fake_github(chatter(35)) as server:
        env = {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GITHUB_API_URL": server.url,
            "GITHUB_REPOSITORY": REPO,
            "GH_TOKEN": "t",
        }
        argv = ["mlapp", "report", "comment", "--run-id", "7", "--report", str(report)]
        result = sh(*argv, cwd=repo_root, env=env)
        assert "posted on pull request #12" in result.stdout
        assert server.writes == [("POST", f"/repos/{REPO}/issues/12/comments")]
    assert list(home.rglob("*")) == []  # no .gitconfig, no safe.directory entries


def test_an_api_that_cannot_be_reached_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, `mlapp report comment` and `github-setup --apply` ended in an httpx traceback."""
    from mlapp.serving.local import free_port

    monkeypatch.setenv("GH_TOKEN", "a-token")
    api = github.Api(base_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(GitHubError, match=r"^GET repos/o/r: http://127\.0\.0\.1:\d+/ cannot be reached: "):
        api.get("repos/o/r")
