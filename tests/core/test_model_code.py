"""The package modules a logged model carries, read from import statements (``mlapp.model_code``).

That the model loads and predicts from them alone, in a process without mlapp installed, is
tests/pipeline/test_tracking.py's ``test_logged_pyfunc_predicts_like_the_model_without_pickle``."""

from pathlib import Path

from mlapp import model_code
from mlapp.tracking import PYFUNC_FILE

SOURCE = """
import os
import mlapp.a as renamed
from typing import TYPE_CHECKING
from mlapp import b
from . import c
from .d import e
from ..f import g
if TYPE_CHECKING:
    from mlapp import never
else:
    from mlapp import h
def lazy():
    from mlapp.i import j
"""


def test_every_import_of_the_package_counts_but_a_type_checking_one(tmp_path: Path) -> None:
    (path := tmp_path / "module.py").write_text(SOURCE)
    assert model_code._imported(path, "mlapp.sub.module") == {
        "mlapp", "mlapp.a", "mlapp.b", "mlapp.h", "mlapp.i", "mlapp.i.j",
        "mlapp.sub", "mlapp.sub.c", "mlapp.sub.d", "mlapp.sub.d.e", "mlapp.f", "mlapp.f.g",
    }  # fmt: skip


def test_the_wrappers_code_is_its_imports_sources_only() -> None:
    names = {str(p.relative_to(model_code.PACKAGE_DIR)) for p in model_code.needed(PYFUNC_FILE)}
    assert {"__init__.py", "model.py", "errors.py"} <= names
    assert all(name.endswith(".py") for name in names), names  # no __pycache__
    # what runs commands and the service, never what loads a model
    assert not any(name.startswith(("cli/", "serving/", "delivery/", "stages/")) for name in names), names
