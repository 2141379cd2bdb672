"""Where the served model came from: model version, git commit, data hash.

``mlapp serving bento`` writes this as a small JSON file (``serving.lineage``) that goes into the
bento, because a container has no ``.git``. Served straight from a git checkout, the
same facts are read from git and ``data.dvc`` at start-up instead (a file left by an
earlier build could name an older commit).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from mlapp.model import MODEL_FILE, file_sha256
from mlapp.tables import read_json, write_json

UNKNOWN = "unknown"


class Lineage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_version: str  # first 12 hex of the model file's sha256 (mlapp.model.Model.version)
    model_sha256: str
    git_commit: str
    git_dirty: bool  # uncommitted changes to tracked files when this was recorded
    data_hash: str  # data.dvc md5 of the raw data the pipeline trained on
    source: str  # "bento" (baked in at build time) or "repo" (read at start-up)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def data_hash(root: Path) -> str:
    dvc_file = root / "data.dvc"
    if not dvc_file.is_file():
        return UNKNOWN
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5") or UNKNOWN)


def from_repo(model_dir: Path, root: Path = Path(), source: str = "repo") -> Lineage:
    sha = file_sha256(model_dir / MODEL_FILE)
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return Lineage(
        model_version=sha[:12],
        model_sha256=sha,
        git_commit=_git(root, "rev-parse", "HEAD") or UNKNOWN,
        git_dirty=bool(status),
        data_hash=data_hash(root),
        source=source,
    )


def write(lineage: Lineage, path: Path) -> None:
    write_json(lineage.model_dump(), path)


def resolve(model_dir: Path, lineage_file: Path, root: Path = Path()) -> Lineage:
    """In a git checkout, what the repository says now; in a bento (no git), the baked file.

    A baked file that describes another model is ignored: better "unknown" than wrong.
    """
    if _git(root, "rev-parse", "HEAD") is None and lineage_file.is_file():
        baked = Lineage.model_validate(read_json(lineage_file))
        if baked.model_sha256 == file_sha256(model_dir / MODEL_FILE):
            return baked
    return from_repo(model_dir, root)
