"""The bento carries every project module the image runs.

Tests that serve a bento from the source tree import missing modules from the installed
package and pass; in the image, only bentofile.yaml's `include` list exists. This follows
the imports of what the image runs (``mlapp.image.build.RUNTIME_MODULES``) through
``src/mlapp`` and checks each module file against that list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from pathspec import PathSpec

from mlapp.image.build import RUNTIME_MODULES
from tests.conftest import REPO

SRC = REPO / "src"


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """Project modules ``path`` imports (absolute and relative, ``from pkg import module`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parent = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(part for part in (parent, node.module or "") if part)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "mlapp" and module_file(name)}


def closure(roots: tuple[str, ...]) -> set[Path]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        path = module_file(name)
        assert path is not None, name
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        todo += sorted(imported_modules(path, package))
    return {module_file(name) for name in seen} - {None}  # type: ignore[misc]


def test_the_bento_includes_every_module_the_image_runs() -> None:
    include = yaml.safe_load((REPO / "bentofile.yaml").read_text())["include"]
    spec = PathSpec.from_lines("gitwildmatch", include)
    needed = sorted(path.relative_to(REPO).as_posix() for path in closure(RUNTIME_MODULES))
    assert "src/mlapp/serving/service.py" in needed and "src/mlapp/model.py" in needed
    missing = [path for path in needed if not spec.match_file(path)]
    assert not missing, f"add to bentofile.yaml `include`: {missing}"
