"""params.yaml as the benchmarks read it: through ``mlapp.params``, the project's one reader
(YAML 1.2, as DVC reads it), never ``yaml.safe_load`` (YAML 1.1: ``0012``, ``1e3``, ``yes``
and ``off`` are other values there than the code under test reads).

mlapp is imported inside the functions: monitor_scale's measured worker imports the benchmarks'
modules under an older src/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def settings(path: Path) -> dict[str, Any]:
    """This checkout's params (checked by ``load_params``) as the settings its file writes: a
    dict for a benchmark to change and write with ``yaml.safe_dump``."""
    from mlapp.params import load_params

    return load_params(path).model_dump(mode="json", by_alias=True, exclude_unset=True)


def as_written(text: str, source: str) -> dict[str, Any]:
    """A params.yaml of any revision (an older one this checkout's checks may refuse: it lacks
    settings, or has others), read by the same reader, unchecked."""
    from mlapp.params import read_params_text

    read: dict[str, Any] = _plain(read_params_text(text, source))
    return read


def _plain(value: Any) -> Any:
    """Quoted text (``mlapp.params_base.Quoted``) as ``str``: ``yaml.safe_dump`` writes no subclass."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, str) else value
