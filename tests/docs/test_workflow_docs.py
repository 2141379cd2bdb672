"""docs/workflows/: one page per workflow, naming only workflows, targets and commands that exist.

A page documents the workflow files its title (`# ...`) names. Commands are read from code
(inline code and fenced blocks, the Mermaid diagram included), where the pages write them.
Make targets come from the Makefile (the parser `mlapp delivery check-workflows` uses), subcommands from
the click group ``mlapp.cli.cli`` (``command_tree``). No network: everything is read from the working tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from mlapp.workflows import make_targets
from tests.conftest import REPO, project_files

DOCS = REPO / "docs" / "workflows"
WORKFLOWS = REPO / ".github" / "workflows"
INDEX = "README.md"

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
YAML_NAME = re.compile(r"(?<![\w.-])([\w-]+(?:\.[\w-]+)*\.ya?ml)\b")
MAKE_CALL = re.compile(r"(?<![\w/.-])make\s+(?:(?:-\S+|\w+=\S*)\s+)*([A-Za-z0-9][\w.-]*)")
MLAPP_CALL = re.compile(r"(?<![\w/.-])mlapp\s+(?:--params\s+\S+\s+)?([a-z][\w-]*)(?:\s+([a-z][\w-]*))?")
Commands = Mapping[str, set[str] | None]  # subcommand -> its own subcommands (groups) or None


def cli_commands() -> dict[str, set[str] | None]:
    from mlapp.cli import command_tree

    return command_tree()


def code_of(markdown: str) -> list[str]:
    """Fenced blocks, then inline code spans of the text outside them."""
    blocks = FENCE.findall(markdown)
    prose = FENCE.sub("", markdown)
    return blocks + [m.group(2) for m in INLINE.finditer(prose)]


def title_of(markdown: str) -> str:
    return next((line for line in markdown.splitlines() if line.startswith("# ")), "")


@dataclass(frozen=True)
class Called:
    make: set[str]
    mlapp: set[str]  # "delivery deploy": a group and its subcommand


def calls_in(code: Iterable[str], commands: Commands) -> Called:
    make: set[str] = set()
    mlapp: set[str] = set()
    for text in code:
        make.update(MAKE_CALL.findall(text))
        for command, sub in MLAPP_CALL.findall(text):
            grouped = command in commands and commands[command] is not None
            mlapp.add(f"{command} {sub}" if grouped and sub else command)
    return Called(make, mlapp)


def unknown_names(markdown: str, targets: set[str], commands: Commands, workflows: set[str]) -> list[str]:
    """Workflow files, make targets and mlapp subcommands the page names that do not exist."""
    files = {p.name for p in project_files()}
    problems = [
        f"{name}: neither a workflow nor a file of the repository"
        for name in sorted(set(YAML_NAME.findall(markdown)))
        if name not in workflows and name not in files
    ]
    problems += [
        f".github/workflows/{name}: no such workflow"
        for name in sorted(set(re.findall(r"\.github/workflows/([\w.-]+\.ya?ml)", markdown)))
        if name not in workflows
    ]
    called = calls_in(code_of(markdown), commands)
    problems += [f"make {t}: not a Makefile target" for t in sorted(called.make - targets)]
    for call in sorted(called.mlapp):
        command, _, sub = call.partition(" ")
        subs = commands.get(command, set())
        if command not in commands:
            problems.append(f"mlapp {command}: not a subcommand of mlapp.cli.cli")
        elif sub and subs is not None and sub not in subs:
            problems.append(f"mlapp {call}: {command} has only {sorted(subs)}")
    return problems


def pages(docs: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(docs.glob("*.md")) if p.name != INDEX}


def workflow_files(workflows: Path) -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(workflows.glob("*.y*ml"))}


def pages_by_workflow(docs: Path, workflows: set[str]) -> dict[str, list[str]]:
    """workflow file -> the pages whose title names it."""
    found: dict[str, list[str]] = {w: [] for w in workflows}
    for page, text in pages(docs).items():
        for name in YAML_NAME.findall(title_of(text)):
            found.setdefault(name, []).append(page)
    return found


def coverage_gaps(workflow: Mapping[Any, Any], page: str, commands: Commands) -> list[str]:
    """What the workflow uses that its page does not mention."""
    on = workflow.get("on", workflow.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
    events = [on] if isinstance(on, str) else list(on)
    jobs: Mapping[str, Any] = workflow.get("jobs") or {}
    runs = [str(s["run"]) for j in jobs.values() for s in j.get("steps") or [] if "run" in s]
    wanted = calls_in(runs, commands)
    documented = calls_in(code_of(page), commands)
    gaps = [f"`make {t}` (a step runs it)" for t in sorted(wanted.make - documented.make)]
    gaps += [f"`mlapp {c}` (a step runs it)" for c in sorted(wanted.mlapp - documented.mlapp)]
    gaps += [f"trigger `{e}`" for e in events if f"`{e}`" not in page]
    dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
    gaps += [f"input `{name}`" for name in (dispatch or {}).get("inputs") or {} if f"`{name}`" not in page]
    for job_id, job in jobs.items():
        if f"`{job_id}`" not in page and not (job.get("name") and str(job["name"]) in page):
            gaps.append(f"job {job_id}")
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, dict) else env
        if env_name and f"`{env_name}`" not in page:
            gaps.append(f"environment `{env_name}`")
    text = yaml.safe_dump(workflow)
    for name in sorted(set(re.findall(r"\b(?:secrets|vars)\.(\w+)", text)) - {"GITHUB_TOKEN"}):
        if f"`{name}`" not in page:
            gaps.append(f"secret/variable `{name}`")
    return gaps


def github_slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the page's headings: a `# comment` in a code block is none, and
    a repeated heading's slug gets `-1`, `-2`, ..."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.MULTILINE):
        slug = github_slug(heading)
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def links(markdown: str) -> list[str]:
    """Every link and image target, as a Markdown reader finds them (code spans hold none)."""
    inline = [t for t in MarkdownIt("commonmark").parse(markdown) if t.type == "inline"]
    found = [c for t in inline for c in t.children or [] if c.type in ("link_open", "image")]
    return [str(c.attrs.get("href") or c.attrs.get("src")) for c in found]


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto: ... not checked offline
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: {resolved} does not exist")
        elif anchor and resolved.is_file() and anchor not in anchors(resolved.read_text()):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


# --- the real pages ------------------------------------------------------------------------


def test_every_workflow_has_exactly_one_page() -> None:
    workflows = set(workflow_files(WORKFLOWS))
    assert {"ci.yml", "cd.yml", "promote.yml", "rollback.yml", "pr.yml", "pr-comment.yml"} <= workflows
    found = pages_by_workflow(DOCS, workflows)
    missing = sorted(w for w in workflows if not found[w])
    assert not missing, f"workflows without a page in docs/workflows/: {missing}"
    doubled = {w: p for w, p in found.items() if len(p) > 1}
    assert not doubled, f"workflows with more than one page: {doubled}"
    unknown = sorted(set(found) - workflows)
    assert not unknown, f"page titles name workflows that do not exist: {unknown}"
    assert found["pr.yml"] == found["pr-comment.yml"], "pr.yml and pr-comment.yml share one page"


def test_index_lists_every_page_and_draws_the_data_flow() -> None:
    index = (DOCS / INDEX).read_text()
    for page in pages(DOCS):
        assert f"]({page})" in index, f"{INDEX} does not link {page}"
    for workflow in workflow_files(WORKFLOWS):
        assert f"`{workflow}`" in index, f"{INDEX} does not list {workflow}"
    diagrams = [b for b in FENCE.findall(index) if b.startswith("flowchart")]
    assert diagrams, f"{INDEX} needs the data-flow diagram as a Mermaid flowchart"
    for stage in ("validate", "split", "train", "evaluate", "models/", "data.dvc", "deploy branch"):
        assert stage in diagrams[0], f"the data-flow diagram lacks {stage!r}"


@pytest.mark.parametrize("name", [INDEX, *pages(DOCS)])
def test_page_names_only_what_exists(name: str) -> None:
    text = (DOCS / name).read_text()
    problems = unknown_names(
        text, make_targets(REPO / "Makefile"), cli_commands(), set(workflow_files(WORKFLOWS))
    )
    assert not problems, f"docs/workflows/{name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("workflow", sorted(workflow_files(WORKFLOWS)))
def test_page_covers_every_command_job_trigger_and_secret_of_its_workflow(workflow: str) -> None:
    found = pages_by_workflow(DOCS, set(workflow_files(WORKFLOWS)))
    if not found[workflow]:
        pytest.fail(f"{workflow} has no page")
    page = (DOCS / found[workflow][0]).read_text()
    gaps = coverage_gaps(workflow_files(WORKFLOWS)[workflow], page, cli_commands())
    assert not gaps, f"{found[workflow][0]} does not mention, from {workflow}: {gaps}"


@pytest.mark.parametrize("name", [INDEX, *pages(DOCS)])
def test_relative_links_resolve(name: str) -> None:
    problems = broken_links(DOCS / name)
    assert not problems, f"docs/workflows/{name}: " + "; ".join(problems)


# --- the checks themselves can fail ----------------------------------------------------------

TARGETS = {"sync", "report", "gate"}
COMMANDS: dict[str, set[str] | None] = {
    "delivery": {"deploy"},
    "monitor": {"retrain-prepare", "retrain-publish"},
}
WORKFLOW_NAMES = {"ci.yml", "cd.yml"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# `deploy.yml`: nope", "deploy.yml: neither a workflow nor a file"),
        ("see [x](../../.github/workflows/release.yml)", ".github/workflows/release.yml: no such workflow"),
        ("run `make deploy-prod`", "make deploy-prod: not a Makefile target"),
        (
            "```bash\nmake report BASE=main\nmake --no-print-directory gates\n```",
            "make gates: not a Makefile target",
        ),
        ("`uv run --frozen mlapp promote --to production`", "mlapp promote: not a subcommand"),
        ("`uv run --frozen mlapp delivery promote`", "mlapp delivery promote: delivery has only"),
        ("`uv run --frozen mlapp monitor retrain-pr`", "mlapp monitor retrain-pr: monitor has only"),
        (
            '```mermaid\nflowchart LR\n  a["mlapp serving smoke<br/>x"]\n```',
            "mlapp serving: not a subcommand",
        ),
    ],
)
def test_unknown_names_are_reported(text: str, expected: str) -> None:
    problems = unknown_names(text, TARGETS, COMMANDS, WORKFLOW_NAMES)
    assert any(expected in p for p in problems), problems


def test_names_that_exist_pass() -> None:
    text = (
        "# `ci.yml` and `cd.yml`\n`make sync`, `make report BASE=main`, `mlapp delivery deploy --env x`,\n"
        "`mlapp monitor retrain-prepare`, `params.yaml`, `mlapp-pr-report`, `io.mlapp.x`,\n"
        "make the job green\n"
    )
    assert unknown_names(text, TARGETS, COMMANDS, WORKFLOW_NAMES) == []


def test_a_workflow_without_a_page_and_a_page_missing_a_step_are_found(tmp_path: Path) -> None:
    docs, workflows = tmp_path / "docs", tmp_path / "workflows"
    docs.mkdir()
    workflows.mkdir()
    workflow = {
        "on": {"workflow_dispatch": {"inputs": {"digest": {"type": "string"}}}},
        "jobs": {
            "ship": {
                "environment": "production",
                "env": {"TOKEN": "${{ secrets.KUBE_CONFIG }}"},
                "steps": [{"run": "make sync"}, {"run": "uv run --frozen mlapp monitor retrain-publish"}],
            }
        },
    }
    (workflows / "ship.yml").write_text(yaml.safe_dump(workflow))
    (workflows / "other.yml").write_text(yaml.safe_dump(workflow))
    (docs / "ship.md").write_text("# `ship.yml`\n`make sync` on `workflow_dispatch`\n")
    found = pages_by_workflow(docs, set(workflow_files(workflows)))
    assert found["other.yml"] == []
    gaps = coverage_gaps(workflow_files(workflows)["ship.yml"], (docs / "ship.md").read_text(), COMMANDS)
    assert set(gaps) == {
        "`mlapp monitor retrain-publish` (a step runs it)",
        "input `digest`",
        "job ship",
        "environment `production`",
        "secret/variable `KUBE_CONFIG`",
    }, gaps


def test_broken_links_and_anchors_are_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n## Branch rules (rulesets)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#branch-rules-rulesets) [gone](missing.md) [bad](other.md#nope) [web](https://x.y/z)"
    )
    problems = broken_links(page)
    assert len(problems) == 2, problems
    assert "missing.md" in problems[0] and "#nope" in problems[1]


def test_anchors_are_the_headings_github_renders(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n## Steps\n```bash\n# install the tools\n```\n## Steps\n")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#steps) [b](other.md#steps-1) [c](other.md#install-the-tools) [d](#top)")
    problems = broken_links(page)
    assert [p.split(":")[0] for p in problems] == ["other.md#install-the-tools", "#top"], problems
