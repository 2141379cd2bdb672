"""Files and folders written whole: a temporary file beside the target, renamed over it, so a crash
or Ctrl-C never leaves half a file; a folder (the model) staged beside its target and swapped in
(``mlapp.swap``). The one way every stage, the monitor and ``mlapp monitor metrics`` write one;
light (no pandas), as the commands that read no table import it too. (evaluate stages its plot
folder and metrics file together and swaps them in at once: ``mlapp.stages.evaluate.publish``.)

A written file has the user's mode (0666 less the umask), as any file a tool writes: git's checkout,
DVC's (its cache's ``0o666 & ~umask``), pandas. The model's two files, the metrics and the tables
then read alike; a private umask (077) keeps them private. What others must read is opened up where
they read it: the image's build context (``mlapp.image.context``)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlapp.errors import writing
from mlapp.swap import swap_in


def staged_beside(path: Path) -> Path:
    """A new empty file beside ``path``, to write and then rename over it: in its directory, so the
    rename is atomic. Created with mode 0666 and the umask applied by the OS, not mkstemp's 0600
    (the rename would carry that to ``path``); a name already taken is drawn again, as mkstemp's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(tempfile.TMP_MAX):
        staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return staged
    raise FileExistsError(f"no free temporary name beside {path}")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A file beside ``path`` to write, renamed over it once the block ends without an error; a
    write that fails (a read-only or full disk) is one line naming ``path``."""
    with writing(path):
        tmp = staged_beside(path)
        try:
            yield tmp
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)  # gone already when the rename happened


@contextlib.contextmanager
def replacing_folder(path: Path, refused: str = "") -> Iterator[Path]:
    """A new empty folder beside ``path`` to fill, swapped in whole (``swap_in``) once the block
    ends without an error; the previous folder is removed then, and kept on any error. Fill it with
    plain writes, not ``replacing`` (the folder is the staging): any write that fails is then one
    line naming ``path``, never the staging folder; ``refused``: what to do about a write refused
    (``errors.writing``)."""
    with writing(path, refused):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}-") as tmp:
            new = Path(tmp) / "new"
            new.mkdir()  # the user's mode, as the folder it replaces (mkdtemp's is 0700)
            yield new
            swap_in(new, path, Path(tmp) / "old")  # the old one is removed with tmp


def write_text(text: str, path: Path) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def json_text(data: Any) -> str:
    """Stable text (sorted keys, fixed indent) so git and `dvc metrics diff` stay quiet."""
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(data: Any, path: Path) -> None:
    write_text(json_text(data), path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
