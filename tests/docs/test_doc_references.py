"""What the pages name beyond mlapp commands (test_doc_commands.py) exists too: a `make X VAR=…`
variable reaches X's recipe, a `benchmarks/<script>.py --option` is an option of the script, and a
repository path written in code (`src/…`, `benchmarks/results/…`, globs too) is in the repository."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, project_files
from tests.docs.test_doc_commands import OPTION, PAGES, commands_of

# `make serve PORT=8080`: the target and the variables after it (placeholders such as `…` included)
MAKE_VARS = re.compile(r"(?<![\w/.-])make\s+([a-z][\w-]*)((?:\s+[A-Z][A-Z0-9_]*=\S*)+)")
BENCHMARK = re.compile(r"(?<![\w.-])benchmarks/(\w+)\.py([^`\n|;&)]*)")
TOP = r"(?:src|docs|benchmarks|infra|tests|\.github|\.ci|\.dvc)"
REPO_PATH = re.compile(rf"(?<![\w./-])({TOP}/[\w./*-]*[\w*])")
# Paths a page tells you to create or remove (infra/README.md: adding and removing a `qa` environment)
TO_CREATE = {"infra/overlays/qa/kustomization.yaml", "infra/overlays/qa", "infra/bootstrap/deployer-qa.yaml"}
PROBE = "doc-probe-value"


def make_variables(markdown: str) -> set[tuple[str, str]]:
    """(target, VARIABLE) for each `make target VAR=value` the page's code writes."""
    found = set()
    for code in commands_of(markdown):
        for target, assignments in MAKE_VARS.findall(code):
            found |= {(target, a.split("=")[0]) for a in assignments.split()}
    return found


def unused_make_variables(markdown: str, makefile_dir: Path = REPO) -> list[str]:
    """A variable the target's recipe never reads is silently ignored by make: name it."""
    problems = []
    for target, variable in sorted(make_variables(markdown)):
        dry = subprocess.run(
            ["make", "-n", "-s", "--no-print-directory", target, f"{variable}={PROBE}"],
            cwd=makefile_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if dry.returncode != 0 or PROBE not in dry.stdout:
            problems.append(f"make {target} {variable}=…: the recipe does not use {variable}")
    return problems


def unknown_benchmark_options(markdown: str, root: Path = REPO) -> list[str]:
    problems = []
    for code in commands_of(markdown):
        for name, rest in BENCHMARK.findall(code):
            script = root / "benchmarks" / f"{name}.py"
            if not script.is_file():
                problems.append(f"benchmarks/{name}.py: no such script")
                continue
            source = script.read_text()  # argparse: add_argument("--rows", ...)
            problems += [
                f"benchmarks/{name}.py: no option {o}" for o in OPTION.findall(rest) if f'"{o}"' not in source
            ]
    return problems


def missing_paths(markdown: str, files: set[str]) -> list[str]:
    folders = {str(parent) for f in files for parent in Path(f).parents}
    problems = []
    for path in sorted({m.rstrip("/.") for code in commands_of(markdown) for m in REPO_PATH.findall(code)}):
        known = fnmatch.filter(files | folders, path) if "*" in path else path in files | folders
        if not known and path not in TO_CREATE:
            problems.append(f"{path}: not in the repository")
    return problems


@pytest.mark.parametrize("page", PAGES)
def test_page_names_variables_options_and_paths_that_exist(page: str) -> None:
    text = (REPO / page).read_text()
    files = {str(p) for p in project_files()}
    problems = unused_make_variables(text) + unknown_benchmark_options(text) + missing_paths(text, files)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_the_pages_document_variables_and_benchmark_options() -> None:
    text = "\n".join((REPO / page).read_text() for page in PAGES)
    assert {("serve", "PORT"), ("monitor", "SOURCE"), ("report", "BASE")} <= make_variables(text)
    assert "cli_latency" in {name for code in commands_of(text) for name, _ in BENCHMARK.findall(code)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("`make monitor SOURCES=recent.csv`", "make monitor SOURCES=…: the recipe does not use SOURCES"),
        ("```bash\nmake tune TRIAL=5   # a few\n```", "make tune TRIAL=…"),
        ("`nice -n 10 uv run python benchmarks/cli_latency.py --baseline REF --reps 1`", "no option --reps"),
        ("`python benchmarks/latency.py`", "benchmarks/latency.py: no such script"),
        ("`benchmarks/results/image.jsn`", "benchmarks/results/image.jsn: not in the repository"),
        ("`benchmarks/results/nothing-*.json`", "benchmarks/results/nothing-*.json: not in the repository"),
    ],
)
def test_the_checks_report_what_does_not_exist(text: str, expected: str) -> None:
    files = {str(p) for p in project_files()}
    problems = unused_make_variables(text) + unknown_benchmark_options(text) + missing_paths(text, files)
    assert any(expected in p for p in problems), problems


def test_what_exists_passes() -> None:
    text = (
        "`make serve PORT=8080`, `make init NAME=…`; "
        "`python benchmarks/image.py --out x --rounds 2 --compare`; `benchmarks/results/body_burst-*.json`, "
        "`src/mlapp/schema.py`, `infra/overlays/qa/kustomization.yaml`"
    )
    files = {str(p) for p in project_files()}
    assert unused_make_variables(text) + unknown_benchmark_options(text) + missing_paths(text, files) == []
