"""The code a logged pyfunc model carries: the package's modules its wrapper imports, and only those.

Logging the whole package sent every module (and any ``__pycache__``) with every run, one
artifact request per file. MLflow's own ``infer_code_paths`` does not fit: it finds only modules
under the working directory (this package is under ``src/``), and learns them by loading the
model in a subprocess whose failure it logs as a warning, then logs the model without its code.
The standard library's ``modulefinder`` reads the imports from the compiled code instead, a
function's lazy import as much as the top's, so what the wrapper may import at load or predict
time is there.
"""

from __future__ import annotations

import modulefinder
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PACKAGE_DIR = Path(__file__).parent
PACKAGE = PACKAGE_DIR.name
Found = tuple[IO[Any] | None, str | None, tuple[str, str, int]]  # modulefinder's own


class _PackageFinder(modulefinder.ModuleFinder):
    """Follows this package's imports only: pandas or MLflow come from the model's requirements."""

    def find_module(self, name: str, path: str | None, parent: modulefinder.Module | None = None) -> Found:
        if path is None and name != PACKAGE:  # None: a top-level name (in a package: its __path__)
            raise ImportError(name)  # recorded as not found, and not walked into
        return super().find_module(name, path, parent)


def needed(entry: Path) -> list[Path]:
    """The package's source files that running ``entry`` may import, its packages' ``__init__``
    included (importing ``mlapp.x.y`` runs ``mlapp/__init__.py`` and ``mlapp/x/__init__.py``)."""
    finder = _PackageFinder(path=[str(PACKAGE_DIR.parent)])
    finder.run_script(str(entry))
    files = (getattr(m, "__file__", None) for name, m in finder.modules.items() if name != "__main__")
    return sorted(Path(file) for file in files if file)


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
