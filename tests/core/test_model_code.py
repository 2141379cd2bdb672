"""The package modules a logged model carries (``mlapp.model_code``).

That the model loads and predicts from them alone, in a process without mlapp installed, is
tests/pipeline/test_tracking.py's ``test_logged_pyfunc_predicts_like_the_model_without_pickle``."""

from pathlib import Path

from mlapp import model_code
from mlapp.tracking import PYFUNC_FILE

WRAPPER = """
import os
import pandas
from mlapp import labels

def lazy():
    from mlapp.delivery.state import Release
"""


def relative(paths: list[Path]) -> set[str]:
    return {str(p.relative_to(model_code.PACKAGE_DIR)) for p in paths}


def test_a_lazy_import_counts_with_its_packages_and_other_packages_are_not_walked(tmp_path: Path) -> None:
    (wrapper := tmp_path / "wrapper.py").write_text(WRAPPER)
    names = relative(model_code.needed(wrapper))
    assert {"__init__.py", "labels.py", "delivery/__init__.py", "delivery/state.py"} <= names, names
    assert "errors.py" in names, names  # state's own import, followed
    assert all(not name.startswith("..") for name in names)  # nothing of pandas' or the stdlib's


def test_the_wrappers_code_is_its_imports_sources_only() -> None:
    names = relative(model_code.needed(PYFUNC_FILE))
    assert {"__init__.py", "model.py", "errors.py"} <= names
    assert all(name.endswith(".py") for name in names), names  # no __pycache__
    # what runs commands and the service, never what loads a model
    assert not any(name.startswith(("cli/", "serving/", "delivery/", "stages/")) for name in names), names
