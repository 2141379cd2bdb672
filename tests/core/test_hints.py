"""A message that tells the user to run a DVC command writes it as README does: ``uv run dvc ...``.

A new user follows README (``uv run``, no activated environment), where a bare ``dvc repro`` is
"command not found". A command quoted with what it ran (``dvc repro --pull <stage>`` failed) or
what it found (``dvc status``) is no instruction and is not checked.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

# A whole command in backticks, as a hint writes it: `dvc repro`, `dvc add data`.
BARE = re.compile(r"`dvc (?:repro|checkout|pull|push|add)[\w ]*`")


def message_text(path: Path) -> Iterator[str]:
    """The string literals of a module, without docstrings (f-strings' literal parts included)."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.value


def bare_hints(path: Path) -> list[str]:
    return [m[0] for text in message_text(path) if (m := BARE.search(text))]


def test_hints_say_uv_run_dvc() -> None:
    paths = sorted((REPO / "src" / "mlapp").rglob("*.py"))
    assert len(paths) > 50
    assert {p.relative_to(REPO).as_posix(): hints for p in paths if (hints := bare_hints(p))} == {}


def test_a_bare_hint_is_found_and_a_quoted_run_is_not(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Run `dvc repro` (a docstring)."""\n'
        'A = f"retrain it, `dvc repro`) {1}"\n'
        'B = f"(`dvc repro --pull {A}` in a worktree) (`dvc status`: x), run `uv run dvc repro`"\n'
    )
    assert bare_hints(module) == ["`dvc repro`"]
