"""Where the served model came from: model version, git commit, data hash.

``mlapp serving bento`` writes this as a small JSON file (``serving.lineage``) that goes into the
bento, because a container has no ``.git``. Served straight from a git checkout, the
same facts are read from git and ``data.dvc`` at start-up instead (a file left by an
earlier build could name an older commit).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mlapp import lineage as facts
from mlapp.files import read_json, write_json
from mlapp.lineage import UNKNOWN
from mlapp.model import model_sha256


class Lineage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_version: str  # first 12 hex of model_sha256 (mlapp.model.Model.version)
    model_sha256: str  # the model's digest: booster and spec (mlapp.model.model_sha256)
    git_commit: str
    git_dirty: bool  # uncommitted changes to tracked files when this was recorded
    data_hash: str  # data.dvc md5 of the raw data the pipeline trained on
    source: str  # "bento" (baked in at build time) or "repo" (read at start-up)


def from_repo(model_dir: Path, root: Path = Path(), source: str = "repo") -> Lineage:
    sha = model_sha256(model_dir)
    return Lineage(
        model_version=sha[:12],
        model_sha256=sha,
        git_commit=facts.git_commit(root) or UNKNOWN,
        git_dirty=facts.git_dirty(root),
        data_hash=facts.data_md5(root),
        source=source,
    )


def write(lineage: Lineage, path: Path) -> None:
    write_json(lineage.model_dump(), path)


def resolve(model_dir: Path, lineage_file: Path, root: Path = Path()) -> Lineage:
    """In a git checkout, what the repository says now; in a bento (no git), the baked file.

    A baked file that describes another model is ignored: better "unknown" than wrong.
    """
    if facts.git_commit(root) is None and lineage_file.is_file():
        baked = Lineage.model_validate(read_json(lineage_file))
        if baked.model_sha256 == model_sha256(model_dir):
            return baked
    return from_repo(model_dir, root)
