"""`mlapp template init`: make this template a project of your own.

The template's name, ``mlapp``, is the package, the console script, the distribution,
the MLflow experiment and model, the bento, the image and the Kubernetes app. Renaming
is therefore one token replaced in every tracked text file and path, then a re-lock.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
import sys
from pathlib import Path

from mlapp import git, proc
from mlapp.errors import UserError

TEMPLATE_NAME = "mlapp"
# One token that is valid everywhere it lands: Python package, PyPI distribution, image
# name, Kubernetes object name (no "_"), MLflow model name.
NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
# Data and lock files: the lock is regenerated, the others never mention the name.
SKIP_PREFIXES = (".dvc/sample-remote/", "uv.lock")
ADDED = re.compile(r"Added (\d+) noqa directive")  # what ruff --add-noqa says


class InitError(UserError, ValueError):
    pass


def project_files(root: Path) -> list[Path]:
    """Tracked + untracked-but-not-ignored files: what a commit of this tree would hold."""
    listed = git.run("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=root).stdout.split(
        "\0"
    )
    return [Path(p) for p in listed if p and (root / p).is_file()]


def renamable_files(root: Path) -> list[Path]:
    return [p for p in project_files(root) if not str(p).startswith(SKIP_PREFIXES)]


def check_name(name: str, root: Path = Path()) -> str:
    if name == TEMPLATE_NAME:  # `make init` run twice with the same name, or the template's own
        raise InitError(f"the project is named {name!r} already: nothing to rename")
    if not NAME.fullmatch(name):  # not `match`: its `$` also matches before a final newline
        raise InitError(
            f"invalid project name {name!r}: use 2-31 lowercase letters or digits, starting with a letter"
        )
    if why := taken(name, root):
        raise InitError(f"{name!r} is taken: {why}; choose another name")
    return name


def taken(name: str, root: Path) -> str | None:
    """What already answers to ``name``, so that the renamed package or command would not be found
    (Python imports the standard library and the dependencies before the project's own ``src/``)
    or would stand in for it (the console script comes first on ``uv run``'s PATH)."""
    if (root / name).exists():
        return f"{name} exists in the project: the package's name would mean two things"
    if name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None:
        return (
            f"a Python module named {name!r} exists (standard library or a dependency): it would be imported"
        )
    if keyword.iskeyword(name):
        return "a Python keyword cannot name a package"
    if command := shutil.which(name):
        return f"the command {name} exists ({command}): the project's command would stand in for it"
    return None


def check_root(root: Path) -> None:
    """From a subfolder, ``git ls-files`` lists that folder only: half the project would be renamed."""
    if (top := git.answer("rev-parse", "--show-toplevel", cwd=root)) is None:
        raise InitError(f"{root} is not in a git repository: `git init` first (init renames what it tracks)")
    if Path(top).resolve() != root.resolve():
        raise InitError(f"run it from the repository's root {top}: from {root} part of it would be renamed")


def name_words() -> re.Pattern[str]:
    """The project's name as a word, in lower or upper case: never inside another (``ml`` in
    ``html`` or ``ci.yml``, ``x9`` in a hash), which a second rename would otherwise change too.
    ``\\n`` before it is an escape (a test's string), not a letter."""
    lower, upper = re.escape(TEMPLATE_NAME), re.escape(TEMPLATE_NAME.upper())
    return re.compile(rf"(?:(?<![A-Za-z0-9])|(?<=\\n))(?:{lower}|{upper})(?![A-Za-z0-9])")


def copy_tree(source: Path, dest: Path) -> None:
    """Copy the files a commit of ``source`` would hold (not its git history)."""
    if dest.exists() and any(dest.iterdir()):
        raise InitError(f"{dest} exists and is not empty")
    for rel in project_files(source):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / rel)


def rename(root: Path, name: str) -> list[Path]:
    """Replace the template's name (as a word: ``name_words``) in contents and paths; returns the
    files changed."""
    check_name(name, root)  # first: the word just typed
    check_root(root)
    texts = {}
    for rel in renamable_files(root):
        try:
            texts[rel] = (root / rel).read_text()
        except UnicodeDecodeError:
            continue
    words = name_words()
    if not any(words.search(text) for text in texts.values()):
        raise InitError(f"no file names {TEMPLATE_NAME!r}: renamed already? run the project's own command")

    def renamed(text: str) -> str:
        return words.sub(lambda found: name if found[0] == TEMPLATE_NAME else name.upper(), text)

    new_texts = {rel: new for rel, text in texts.items() if (new := renamed(text)) != text}
    check_committed(root, [*new_texts, *(p for p in renamable_files(root) if words.search(str(p)))])
    for rel, new in new_texts.items():
        (root / rel).write_text(new)
    paths = [p for p in root.rglob(f"*{TEMPLATE_NAME}*") if words.search(p.name)]
    for path in sorted(paths, key=lambda p: len(p.parts), reverse=True):
        if ".git" in path.parts or ".venv" in path.parts:
            continue
        path.rename(path.with_name(renamed(path.name)))
    return list(new_texts)


def check_committed(root: Path, touched: list[Path]) -> None:
    """Refuse to rewrite or move a file whose edits are not committed: they would be mixed into the
    rename, which is then no change of its own to review or undo (``git checkout .`` would take
    them too). Before the first commit there is nothing to keep apart."""
    if git.rev("HEAD", cwd=root) is None:
        return
    edited = git.run("diff", "-z", "--name-only", "HEAD", cwd=root).stdout.split("\0")
    new = git.run("ls-files", "-z", "--others", "--exclude-standard", cwd=root).stdout.split("\0")
    if dirty := sorted({str(p) for p in touched} & {*edited, *new}):
        more = f" and {len(dirty) - 5} more" if len(dirty) > 5 else ""
        raise InitError(
            f"uncommitted changes in files the rename rewrites: {', '.join(dirty[:5])}{more} (`git status`); "
            "commit them (or `git stash` them) first, so that the rename is a change of its own"
        )


def fit_lint(root: Path) -> int:
    """A name of another length reorders imports and moves lines past ruff's line length (a
    9-letter name: 73 findings, `make lint` failed). ruff sorts the imports, wraps the code at the
    same line length and marks a string or comment it cannot wrap ``# noqa: E501`` (reviewable in
    the rename's diff, where a raised limit would loosen every later line). Returns how many."""
    # No ruff script beside this Python (no dev tools): proc.tool would give ``python -m ruff``.
    if len(tool := proc.tool("ruff")) > 1:
        return 0  # `make fmt` does it once they are installed
    ruff = tool[0]
    proc.run([ruff, "check", "--fix", "--select", "I", "--quiet", "."], cwd=root, check=False)
    proc.run([ruff, "format", "--quiet", "."], cwd=root)
    added = proc.run([ruff, "check", "--select", "E501", "--add-noqa", "."], cwd=root, check=False)
    return int(m[1]) if (m := ADDED.search(added.stdout + added.stderr)) else 0
