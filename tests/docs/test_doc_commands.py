"""Every Markdown page a user reads (README, docs/, infra/, .github/workflows/) names only make
targets, mlapp commands and options that exist, and links only to files the repository has.
The workflow pages' stricter checks (each workflow documented) are in test_workflow_docs.py."""

from __future__ import annotations

import re

import click
import pytest

from mlapp.cli import cli
from mlapp.workflows import make_targets
from tests.conftest import REPO, project_files
from tests.docs.test_workflow_docs import broken_links, calls_in, cli_commands, code_of

PAGES = sorted(str(p) for p in project_files() if p.suffix == ".md" and p.parts[0] != "tests")
# `mlapp <group> <command>` and the rest of its command line (to a pipe, `;`, `&`, `)` or the end)
CALL = re.compile(r"(?<![\w/.-])mlapp\s+([a-z][\w-]*)\s+([a-z][\w-]*)([^`\n|;&)]*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
CONFIG = re.compile(r"^```(?:ya?ml|json)\n.*?^```", re.MULTILINE | re.DOTALL)  # no commands in there


def commands_of(markdown: str) -> list[str]:
    """The page's code (code_of), without YAML/JSON blocks: `job_name: mlapp` is not a command."""
    return code_of(CONFIG.sub("", markdown))


def unknown_options(markdown: str) -> list[str]:
    """`--options` written after an mlapp command that the command does not take."""
    problems = []
    for code in commands_of(markdown):
        for group, name, rest in CALL.findall(code):
            command = cli.commands.get(group)
            sub = command.commands.get(name) if isinstance(command, click.Group) else None
            if sub is None:
                continue  # an unknown command is unknown_commands' finding
            takes = {o for p in sub.params for o in [*p.opts, *p.secondary_opts]} | {"--help"}
            problems += [
                f"mlapp {group} {name}: no option {o}" for o in OPTION.findall(rest) if o not in takes
            ]
    return problems


def unknown_commands(markdown: str) -> list[str]:
    commands = cli_commands()
    called = calls_in(commands_of(markdown), commands)
    problems = [
        f"make {t}: not a Makefile target" for t in sorted(called.make - make_targets(REPO / "Makefile"))
    ]
    for call in sorted(called.mlapp):
        group, _, sub = call.partition(" ")
        subs = commands.get(group, set())
        if group not in commands or (sub and subs is not None and sub not in subs):
            problems.append(f"mlapp {call}: no such command")
    return problems


def test_the_pages_are_found() -> None:
    assert {"README.md", "docs/serving.md", "infra/README.md", ".github/workflows/README.md"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_names_commands_options_and_files_that_exist(page: str) -> None:
    text = (REPO / page).read_text()
    problems = unknown_commands(text) + unknown_options(text) + broken_links(REPO / page)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("`uv run mlapp monitor run --sauce recent.csv`", "mlapp monitor run: no option --sauce"),
        ("```bash\nmlapp serving score --input a.csv --outptu b.parquet | tee\n```", "no option --outptu"),
        ("`make serve-all PORT=1`", "make serve-all: not a Makefile target"),
        ("`mlapp serving deploy`", "mlapp serving deploy: no such command"),
    ],
)
def test_the_checks_report_what_does_not_exist(text: str, expected: str) -> None:
    problems = unknown_commands(text) + unknown_options(text)
    assert any(expected in p for p in problems), problems


def test_what_is_not_a_command_line_passes() -> None:
    text = (
        "`mlapp monitor run --source x.csv | curl --data-binary @-`; `mlapp serving serve --port 1` "
        "(`--host`)\n```yaml\n- job_name: mlapp\n  honor_labels: true\n```\n"
    )
    assert unknown_commands(text) + unknown_options(text) == []
