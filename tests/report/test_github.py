"""The commenting workflow's commands: which PR, and the artifact treated as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlapp.delivery.github import GitHubError
from mlapp.report import github

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


def test_comment_body_is_bounded_and_ends_with_a_trusted_footer() -> None:
    url = "https://github.com/org/app/actions/runs/7"
    body = github.comment_body(b"### Report\n" + b"x" * 5000 + b"\0", url, 2000)
    assert len(body) <= 2000
    assert "truncated" in body and body.endswith(
        "artifact. The merge decision is the `quality gate` step of that run.</sub>\n"
    )
    assert f"[this workflow run]({url})" in body
    short = github.comment_body("### ok ✅\n".encode(), url, 2000)
    assert short.startswith("### ok ✅\n") and "truncated" not in short


def test_post_puts_an_inert_body_in_one_cml_comment(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("### Model report\n![roc](roc.png)\n")
    api = FakeApi(
        {f"repos/{REPO}/actions/runs/7": run_payload([pull(12)]), f"repos/{REPO}/pulls/12": pull(12)}
    )
    sent: list[tuple[list[str], str]] = []

    def execute(argv: list[str]) -> str:
        sent.append((argv, Path(argv[-1]).read_text()))  # the body file exists during the call
        return ""

    url = "https://github.com/org/app/actions/runs/7"
    assert github.post(REPO, 7, report, url, 60_000, api, execute) == 12
    ((argv, body),) = sent
    assert argv[:-1] == [
        "cml", "comment", "update", "--target=pr/12", "--watermark-title=mlapp-pr-report", "--no-publish"
    ]  # fmt: skip
    assert body.startswith("### Model report\n[image: roc]\n") and url in body
    assert not Path(argv[-1]).exists()  # a temporary file, removed afterwards


def test_post_skips_without_a_pr_and_refuses_a_symlinked_report(tmp_path: Path) -> None:
    api = FakeApi({f"repos/{REPO}/actions/runs/7": run_payload([pull(5)]), f"repos/{REPO}/pulls/5": pull(5)})
    never = pytest.fail
    link = tmp_path / "report.md"
    link.symlink_to("/etc/hostname")
    with pytest.raises(GitHubError, match="not a regular file"):
        github.post(REPO, 7, link, "u", 60_000, api, never)
    closed = FakeApi(
        {
            f"repos/{REPO}/actions/runs/7": run_payload([pull(5)]),
            f"repos/{REPO}/pulls/5": pull(5, state="closed"),
        }
    )
    assert github.post(REPO, 7, link, "u", 60_000, closed, never) is None


def test_cli_pr_comment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mlapp.cli import cli

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(github, "post", lambda *args, **kwargs: calls.append((args, kwargs)) or 12)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # params.yaml: report.max_chars
    report = tmp_path / "report.md"
    result = CliRunner().invoke(cli, ["report", "comment", "--run-id", "7", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "posted on pull request #12" in result.stdout
    run_url = "https://github.com/org/app/actions/runs/7"
    assert calls == [((REPO, 7, report), {"run_url": run_url, "max_chars": 60_000})]
