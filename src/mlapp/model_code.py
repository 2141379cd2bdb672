"""The code a logged pyfunc model carries: the package's modules its wrapper imports, and only those.

Logging the whole package sent every module (and any ``__pycache__``) with every run, one
artifact request per file. MLflow's own ``infer_code_paths`` does not fit: it finds only modules
under the working directory (this package is under ``src/``), and learns them by loading the
model in a subprocess whose failure it logs as a warning, then logs the model without its code.
Read from the sources' import statements instead: every one, a function's lazy import as much as
the top's, so what the wrapper may import at load or predict time is there.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent
PACKAGE = PACKAGE_DIR.name


def source(module: str) -> Path | None:
    """The file of this package's ``module`` (``mlapp.model``); ``None`` if it names no module
    (``mlapp.model.load``: a function imported from one)."""
    parts = module.split(".")[1:]
    if (package := PACKAGE_DIR.joinpath(*parts, "__init__.py")).is_file():
        return package
    if parts and (file := PACKAGE_DIR.joinpath(*parts).with_suffix(".py")).is_file():
        return file
    return None


def _imported(path: Path, module: str) -> set[str]:
    """What the source at ``path`` (module ``module``) imports from this package, as module names;
    ``from mlapp import x`` gives ``mlapp`` and ``mlapp.x`` (``x`` may be a module). An import under
    ``if TYPE_CHECKING:`` never runs: left out."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"), str(path))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package ``level - 1`` levels above this one's
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {name for name in names if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def _type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def needed(entry: Path) -> list[Path]:
    """The package's source files that running ``entry`` may import, its packages' ``__init__``
    included (importing ``mlapp.x.y`` runs ``mlapp/__init__.py`` and ``mlapp/x/__init__.py``)."""
    files: set[Path] = set()
    todo = list(_imported(entry, ".".join((PACKAGE, *entry.relative_to(PACKAGE_DIR).with_suffix("").parts))))
    while todo:
        module = todo.pop()
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)]
        for name in parents:
            path = source(name)
            if path is not None and path not in files:
                files.add(path)
                todo.extend(_imported(path, name))
    return sorted(files)


@contextmanager
def code_path(entry: Path) -> Iterator[str]:
    """The ``code_paths`` entry of a model whose wrapper is ``entry``: ``needed(entry)`` copied
    into a temporary ``<package>/`` folder (its layout kept), removed after the block."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / PACKAGE
        for path in needed(entry):
            target = root / path.relative_to(PACKAGE_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        yield str(root)
