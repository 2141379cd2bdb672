"""`mlapp template init` and the template self-test: instantiate, then pipeline, tests and PR report there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlapp import proc, template
from tests.conftest import REPO, sh

UV = str(Path(sys.executable).parent / "uv")
# The copy's name: one that neither contains this project's name nor is part of it (after
# `make init NAME=acmechurn`, the example `make help` gives, the first would be this very name).
NEW = next(
    n
    for n in ("acmechurn", "zetaretention")
    if template.TEMPLATE_NAME not in n and n not in template.TEMPLATE_NAME
)


def instantiate(dest: Path, name: str) -> Path:
    template.copy_tree(REPO, dest)
    sh("git", "init", "-q", "-b", "main", cwd=dest)
    sh("git", "config", "user.email", "test@example.com", cwd=dest)
    sh("git", "config", "user.name", "test", cwd=dest)
    said = sh("mlapp", "template", "init", name, cwd=dest).stdout
    assert said.endswith("; next: `uv lock && uv sync`, then `make test` and commit\n"), said
    return dest


def test_rejects_names_that_would_break_somewhere() -> None:
    for bad in ("My-App", "my_app", "1app", "a", "café", "my app", ""):
        with pytest.raises(template.InitError, match="invalid project name"):
            template.check_name(bad)


def test_refuses_a_name_with_a_line_break() -> None:
    """`$` matches before a final newline: "ab\\n" was written into every file and path."""
    with pytest.raises(template.InitError, match="invalid project name"):
        template.check_name("acme\n")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("xgboost", "a Python module named 'xgboost' exists"),  # a dependency: import finds it first
        ("test", "a Python module named 'test' exists"),  # the standard library's regression tests
        ("class", "a Python keyword"),  # `from class.cli import ...` is a syntax error
        ("make", "the command make exists"),  # the console script would stand in for make in `uv run`
        ("tests", "tests exists in the project"),  # the test suite's package
    ],
)
def test_refuses_a_name_something_else_already_answers_to(name: str, why: str) -> None:
    with pytest.raises(template.InitError, match=f"^{name!r} is taken: {re.escape(why)}"):
        template.check_name(name, REPO)


def test_init_runs_at_the_root_of_a_project_it_can_rename(tmp_path: Path) -> None:
    """From a subfolder, `git ls-files` lists that folder's files: half the project was renamed."""
    template.copy_tree(REPO, root := tmp_path / "acme")
    sh("git", "init", "-q", "-b", "main", cwd=root)
    before = (root / "pyproject.toml").read_text()
    result = subprocess.run(
        ["mlapp", "template", "init", NEW], cwd=root / "src", capture_output=True, text=True
    )
    assert result.returncode != 0 and "run it from the repository's root" in result.stderr, result.stderr
    assert (root / "src" / "mlapp").is_dir() and (root / "pyproject.toml").read_text() == before
    (outside := tmp_path / "plain").mkdir()
    result = subprocess.run(["mlapp", "template", "init", NEW], cwd=outside, capture_output=True, text=True)
    assert result.returncode != 0 and "not in a git repository" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    renamed = instantiate(tmp_path / "renamed", NEW)  # this package's init, in a project renamed before
    with pytest.raises(
        template.InitError, match=f"no file names '{template.TEMPLATE_NAME}': renamed already"
    ):
        template.rename(renamed, "zetaother")


def test_a_name_that_is_part_of_other_words_is_renamed_as_a_word_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `make init NAME=ml`, a second init replaced every "ml": html, yaml, mlflow, and the
    workflow files' names (ci.yml became ci.yacmechurn). Only the name, as a word, is renamed."""
    root = instantiate(tmp_path / "acme", "ml")
    monkeypatch.setattr(template, "TEMPLATE_NAME", "ml")  # what the renamed project's own module says
    workflows = sorted(p.name for p in (root / ".github" / "workflows").iterdir())
    template.rename(root, NEW)
    assert sorted(p.name for p in (root / ".github" / "workflows").iterdir()) == workflows
    assert (root / "src" / NEW / "cli").is_dir() and not (root / "src" / "ml").exists()
    params = (root / "params.yaml").read_text()
    assert f"model_name: {NEW}" in params and "mlflow:" in params and "yaml" not in NEW
    pyproject = (root / "pyproject.toml").read_text()
    assert f'{NEW} = "{NEW}.__main__:main"' in pyproject and "mlflow" in pyproject


def test_init_with_the_current_name_says_so() -> None:
    """`make init NAME=x` run twice (the project is x now): not "invalid project name 'x'"."""
    with pytest.raises(template.InitError, match=f"^the project is named '{template.TEMPLATE_NAME}' already"):
        template.check_name(template.TEMPLATE_NAME)


def test_init_renames_everything(tmp_path: Path) -> None:
    root = instantiate(tmp_path / "acme", NEW)
    assert (root / "src" / NEW / "cli" / "__init__.py").is_file()
    assert not (root / "src" / "mlapp").exists()
    leftovers = [
        str(rel)
        for rel in template.project_files(root)
        if rel.name != "uv.lock"
        and not str(rel).startswith(".dvc/sample-remote/")
        and template.name_words().search((root / rel).read_bytes().decode(errors="ignore").lower())
    ]
    assert leftovers == []
    pyproject = (root / "pyproject.toml").read_text()
    assert f'name = "{NEW}"' in pyproject and f'{NEW} = "{NEW}.__main__:main"' in pyproject
    assert f"model_name: {NEW}" in (root / "params.yaml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", [NEW, "z" * 31], ids=["example", "longest"])
def test_the_renamed_project_passes_ruff(tmp_path: Path, name: str) -> None:
    """`make lint` right after `make init`: the longer name reordered imports and pushed 73 lines
    past the line length (acmechurn)."""
    root = instantiate(tmp_path / "acme", name)
    ruff = proc.tool("ruff")
    assert sh(*ruff, "check", "--quiet", ".", cwd=root).stdout == ""
    assert sh(*ruff, "format", "--check", "--quiet", ".", cwd=root).stdout == ""


def test_the_lint_pass_is_left_to_make_fmt_without_ruff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment without the dev tools, no ruff beside its Python: init renames and leaves the
    lint pass to `make fmt`, rather than running `python check ...` and failing on it."""
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(bare / "python"))
    (project := tmp_path / "project").mkdir()
    (project / "a.py").write_text("import sys\nimport os\n")
    assert template.fit_lint(project) == 0
    assert (project / "a.py").read_text() == "import sys\nimport os\n"


@pytest.mark.slow
# A hang guard, not a claim about speed: a fresh environment, two repros, tests and the report
# ran past 300 s at load average 12.
@pytest.mark.timeout(900)
def test_template_self_test(tmp_path: Path) -> None:
    """What a team gets from "Use this template" + init: a repo whose pipeline, tests and report work."""
    root = instantiate(tmp_path / "acme", NEW)
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(root / ".venv"),
        "VIRTUAL_ENV": "",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PYTHONPATH": "",
    }
    env.pop("VIRTUAL_ENV")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    run(UV, "lock")
    run(UV, "sync", "--frozen", "--quiet")
    run(UV, "run", "--frozen", "dvc", "pull", "-q", "data.dvc")
    run(UV, "run", "--frozen", "dvc", "repro")
    run("git", "add", "-A")
    run("git", "commit", "-qm", f"{NEW} from the template")
    run(UV, "run", "--frozen", NEW, "--help")
    tests = run(
        UV,
        "run",
        "--frozen",
        "pytest",
        "-q",
        "-x",
        "-m",
        "not slow",
        "-p",
        "no:cacheprovider",
        # The renamed copy's own tests run: the command tree, params and split (the whole suite
        # runs on this repository; what can break here is the rename, which these import).
        "tests/pipeline/test_cli.py",
        "tests/pipeline/test_params.py",
        "tests/pipeline/test_split.py",
    )
    assert " passed" in tests.stdout
    run("git", "checkout", "-q", "-b", "shallower")
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("max_depth: 5", "max_depth: 3"))
    run(UV, "run", "--frozen", "dvc", "repro")
    run("git", "commit", "-qam", "shallower trees")
    report = subprocess.run(
        [UV, "run", "--frozen", NEW, "report", "run", "--base", "main"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # The exit code is the written report's gate decision (1 = the gate said no: still a report).
    written = json.loads((root / "reports" / "pr" / "report.json").read_text())
    assert report.returncode == (0 if written["gate"]["passed"] else 1), report.stderr[-3000:]
    markdown = (root / "reports" / "pr" / "report.md").read_text()
    assert re.search(r"\|\s*`train\.xgboost\.max_depth`\s*\|\s*`5`\s*\|\s*`3`\s*\|", markdown)


def test_make_init_passes_the_name_as_one_word(tmp_path: Path) -> None:
    """`make init NAME='x;true'`: unquoted, the shell ran `true` after the refused init, the line
    exited 0 and make went on to re-lock, re-sync and print "Renamed to x;true"."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    mlapp_bin = str(Path(sys.executable).parent)  # the project's `mlapp`, without `uv run`
    env = {**os.environ, "PATH": f"{mlapp_bin}{os.pathsep}{os.environ['PATH']}"}
    # RUN without uv (this very command, from PATH); UV=true: lock, uninstall and sync do nothing.
    made = subprocess.run(
        ["make", "--no-print-directory", "init", "NAME=x;true", "RUN=", "UV=true"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode != 0 and "Renamed to" not in made.stdout, made.stdout + made.stderr
    assert "invalid project name 'x;true'" in made.stderr, made.stderr


def test_make_init_says_only_the_steps_it_left(tmp_path: Path) -> None:
    """`make init` printed init's "next: `uv lock && uv sync`", then ran both and printed its own
    "Next: make run && make test": a step already done, said as still to do."""
    template.copy_tree(REPO, root := tmp_path / "acme")
    sh("git", "init", "-q", "-b", "main", cwd=root)
    # RUN= : `mlapp` from PATH (sh puts the copy's src first); UV=true: lock and sync do nothing.
    made = sh("make", "--no-print-directory", "init", f"NAME={NEW}", "RUN=", "UV=true", cwd=root).stdout
    assert f"renamed the template to {NEW!r} in " in made and "uv lock" not in made, made
    assert made.endswith(f"Renamed to {NEW}. Next: make run && make test, then commit.\n"), made


def test_init_refuses_to_mix_uncommitted_edits_into_the_rename(tmp_path: Path) -> None:
    """Edits not committed in a file the rename rewrites or moves became part of the rename: no
    change of its own to review, and `git checkout .` to undo it took the edits too."""
    template.copy_tree(REPO, root := tmp_path / "acme")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-qm", "template")):
        sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args, cwd=root)
    params, pyproject = root / "params.yaml", (root / "pyproject.toml").read_text()
    params.write_text(params.read_text() + "# my edit\n")  # names the template: rewritten
    (root / "src" / template.TEMPLATE_NAME / "mine.py").write_text('"""untracked: moved"""\n')
    (root / "notes.txt").write_text("untouched by the rename\n")
    result = subprocess.run(["mlapp", "template", "init", NEW], cwd=root, capture_output=True, text=True)
    named = f"params.yaml, src/{template.TEMPLATE_NAME}/mine.py (`git status`); commit them"
    assert result.returncode != 0 and named in result.stderr, result.stderr
    assert "notes.txt" not in result.stderr and "Traceback" not in result.stderr
    assert (root / "pyproject.toml").read_text() == pyproject and not (root / "src" / NEW).exists()
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "mine", cwd=root)
    (root / "src" / template.TEMPLATE_NAME / "mine.py").unlink()  # untracked, so not committed: gone
    template.rename(root, NEW)  # notes.txt, untracked but not renamed, does not stop it
    assert (root / "src" / NEW).is_dir() and "# my edit" in params.read_text()
    assert (root / "notes.txt").read_text() == "untouched by the rename\n"
