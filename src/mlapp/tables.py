"""Reading and writing tables and small JSON files, the same way in every stage."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd


def read_raw(path: Path) -> pd.DataFrame:
    """Raw input as text (CSV) or as stored (Parquet): typing is the validate stage's job."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def read_frame(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def write_json(data: Any, path: Path) -> None:
    """Stable bytes (sorted keys, fixed indent) so git and `dvc metrics diff` stay quiet.

    Written to a temporary file first and renamed, so a crash never leaves half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    Path(tmp).chmod(0o644)  # mkstemp creates 0600; these files are committed and shared
    Path(tmp).replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
