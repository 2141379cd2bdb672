"""Shared by the report tests: a CI-like checkout of a PR, and checks on the Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import copy_project, sh

GITHUB_COMMENT_LIMIT = 65_536
RUN_BLOCK = re.compile(r"<!-- run-specific:start -->.*?<!-- run-specific:end -->", re.DOTALL)
GIT_ID = ("-c", "user.email=t@example.com", "-c", "user.name=t")
# Class names holding each kind of markup a label may hold (the pipeline admits a line break and a
# tab too): the comment, the tables and the plots must show each as text.
HOSTILE_NAMES = [
    "a|b",
    "<script>x</script>",
    "@org/team",
    "`tick`",
    "$\\alpha",
    "new\nline",
    "tab\there",
    "x" * 200,
]


def commit_all(root: Path, message: str) -> str:
    sh("git", "add", "-A", cwd=root)
    sh("git", *GIT_ID, "commit", "-qm", message, cwd=root)
    return sh("git", "rev-parse", "HEAD", cwd=root).stdout.strip()


def set_param(root: Path, old: str, new: str) -> None:
    params = root / "params.yaml"
    text = params.read_text()
    assert text.count(old) == 1, old
    params.write_text(text.replace(old, new))


def origin_repo(trained: Path, dest: Path) -> Path:
    """The upstream repository: trained main, its data on the bundled remote, a test gate floor."""
    root = copy_project(trained, dest)
    # The real sample remote holds the 20k-row data; a fresh clone of this repo needs its own.
    sh("dvc", "push", "-q", "data.dvc", cwd=root)
    # 3,000 rows reach a lower AUC than the 20k sample the shipped floor (0.75) is set for.
    set_param(root, "min_primary: 0.75", "min_primary: 0.6")
    commit_all(root, "publish the data; gate floor for small data")
    return root


def pr_branch(origin: Path, name: str, change: Any) -> None:
    """A PR branch made the way an author does: change, `dvc repro`, commit."""
    sh("git", "checkout", "-q", "-b", name, "main", cwd=origin)
    change(origin)
    sh("dvc", "repro", "-q", cwd=origin)
    commit_all(origin, name)
    sh("git", "checkout", "-q", "main", cwd=origin)


def ci_checkout(origin: Path, dest: Path, branch: str) -> tuple[Path, str, dict[str, str]]:
    """What pr.yml does: full clone, GitHub's merge commit, `dvc pull`, `dvc repro`.

    Returns the clone, the base commit (github.event.pull_request.base.sha) and the
    environment of the CI job: MLflow's default store of a fresh checkout, nothing shared.
    """
    sh("git", "clone", "-q", str(origin), str(dest), cwd=origin.parent)
    base = sh("git", "rev-parse", "origin/main", cwd=dest).stdout.strip()
    sh("git", "checkout", "-q", "--detach", base, cwd=dest)
    sh(
        "git",
        *GIT_ID,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        f"Merge {branch} into main",
        f"origin/{branch}",
        cwd=dest,
    )
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{dest / 'mlflow.db'}"}
    sh("dvc", "pull", "-q", "data.dvc", cwd=dest, env=env)
    sh("dvc", "repro", "-q", cwd=dest, env=env)
    return dest, base, env


def report_files(root: Path) -> tuple[dict[str, Any], str]:
    out = root / "reports" / "pr"
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def without_run_block(markdown: str) -> str:
    return RUN_BLOCK.sub("<run-specific>", markdown)


def table_blocks(markdown: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def cells(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row.strip())[1:-1])


def assert_renders(markdown: str) -> None:
    """Within GitHub's limit, and well-formed: tables, fences, details, parsed by markdown-it."""
    assert len(markdown) <= GITHUB_COMMENT_LIMIT
    assert markdown.count("```") % 2 == 0
    assert markdown.count("<details>") == markdown.count("</details>")
    blocks = table_blocks(markdown)
    assert blocks, "no tables"
    for block in blocks:
        assert re.fullmatch(r"\|(:?-+:?\|)+", block[1]), block[1]
        assert {cells(row) for row in block} == {cells(block[0])}, block
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # the structural checks above still ran
        return
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    assert sum(t.type == "table_open" for t in tokens) == len(blocks)
    fences = [t.info for t in tokens if t.type == "fence"]
    assert all(info == "mermaid" for info in fences)
    for fence in (t.content for t in tokens if t.type == "fence"):
        lines = [line.strip() for line in fence.splitlines()]
        assert "xychart-beta" in lines
        series = [line for line in lines if line.startswith("line [")]
        assert len(series) == 2
        assert len({len(s.split(",")) for s in series}) == 1  # both curves on the same grid
