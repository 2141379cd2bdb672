"""Reading and writing tables and small JSON files, the same way in every stage."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
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


ALIGN_MARKS = {"l": ":--", "r": "--:", "c": ":-:"}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> list[str]:
    """The lines of a GitHub Markdown table. ``align``: one of l/r/c per column (default: the
    first column left, the others right, as numbers read best)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} does not fit {len(header)} columns")
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(ALIGN_MARKS[a] for a in align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def code_cell(value: object) -> str:
    """A value shown as code in a table cell: ``<b>`` stays text, a ``|`` cannot split the row;
    None is a dash."""
    if value is None:
        return "—"
    return "`" + str(value).replace("`", "'").replace("|", "\\|") + "`"
