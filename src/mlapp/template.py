"""`mlapp template init`: make this template a project of your own.

The template's name, ``mlapp``, is the package, the console script, the distribution,
the MLflow experiment and model, the bento, the image and the Kubernetes app. Renaming
is therefore one token replaced in every tracked text file and path, then a re-lock.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mlapp import git
from mlapp.errors import UserError

TEMPLATE_NAME = "mlapp"
# One token that is valid everywhere it lands: Python package, PyPI distribution, image
# name, Kubernetes object name (no "_"), MLflow model name.
NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
# Data and lock files: the lock is regenerated, the others never mention the name.
SKIP_PREFIXES = (".dvc/sample-remote/", "uv.lock")


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


def check_name(name: str) -> str:
    if name == TEMPLATE_NAME:  # `make init` run twice with the same name, or the template's own
        raise InitError(f"the project is named {name!r} already: nothing to rename")
    if not NAME.match(name):
        raise InitError(
            f"invalid project name {name!r}: use 2-31 lowercase letters or digits, starting with a letter"
        )
    return name


def copy_tree(source: Path, dest: Path) -> None:
    """Copy the files a commit of ``source`` would hold (not its git history)."""
    if dest.exists() and any(dest.iterdir()):
        raise InitError(f"{dest} exists and is not empty")
    for rel in project_files(source):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / rel)


def rename(root: Path, name: str) -> list[Path]:
    """Replace the template's name in contents and paths; returns the files changed."""
    check_name(name)
    changed = []
    for rel in renamable_files(root):
        path = root / rel
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = text.replace(TEMPLATE_NAME, name).replace(TEMPLATE_NAME.upper(), name.upper())
        if new != text:
            path.write_text(new)
            changed.append(rel)
    for path in sorted(root.rglob(f"*{TEMPLATE_NAME}*"), key=lambda p: len(p.parts), reverse=True):
        if ".git" in path.parts or ".venv" in path.parts:
            continue
        path.rename(path.with_name(path.name.replace(TEMPLATE_NAME, name)))
    return changed
