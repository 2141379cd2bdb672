"""Where a model came from: the one place that reads git, DVC pointers, dvc.lock and versions.

MLflow runs and registry versions (``tags``), the image labels and the serving lineage
(``mlapp.serving.lineage``) all describe a model with these facts, so they are computed here
once: git commit and dirtiness, the ``data.dvc`` hash, the output hashes of each dvc.lock
stage, package versions, the model's digest (``mlapp.model.model_sha256``: booster and spec) and
the repository that built it (``git.repository``: the registry's owner check reads it).
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mlapp import git
from mlapp.model import model_sha256

UNKNOWN = "unknown"
DATA_POINTER = "data.dvc"  # the raw data's pointer at the repository root
GIT_TIMEOUT_S = 10  # lineage is informative: a hung git must not hold a server start-up
LOCK_TAG_MAX = 5000  # MLflow's tag value limit
REPOSITORY_TAG = "git.repository"


@dataclass(frozen=True)
class Pointer:
    """What a ``.dvc`` file records for its (first) output."""

    path: str | None
    md5: str | None
    imported: bool  # `dvc import` / `dvc import-url`: has a source to update from


def read_pointer(text: str | None) -> Pointer | None:
    """Parse the text of a ``.dvc`` file (None or empty: no pointer)."""
    if not text:
        return None
    spec: dict[str, Any] = yaml.safe_load(text) or {}
    out = (spec.get("outs") or [{}])[0]
    md5, path = out.get("md5"), out.get("path")
    return Pointer(str(path) if path else None, str(md5) if md5 else None, bool(spec.get("deps")))


def data_pointer(root: Path = Path()) -> Pointer | None:
    path = root / DATA_POINTER
    return read_pointer(path.read_text()) if path.is_file() else None


def data_md5(root: Path = Path()) -> str:
    pointer = data_pointer(root)
    return (pointer.md5 if pointer else None) or UNKNOWN


def git_commit(root: Path = Path()) -> str | None:
    """None outside a repository or without git (e.g. in a bento)."""
    return git.answer("rev-parse", "HEAD", cwd=root, timeout=GIT_TIMEOUT_S)


def git_dirty(root: Path = Path()) -> bool:
    """Uncommitted changes to tracked files (untracked files do not change what was built)."""
    return bool(git.answer("status", "--porcelain", "--untracked-files=no", cwd=root, timeout=GIT_TIMEOUT_S))


def repository(root: Path = Path()) -> str:
    """host/owner/name (lower case, as GitHub compares them) of the repository building here:
    GITHUB_REPOSITORY in Actions, else the URL of the ``origin`` remote (the one a clone has);
    unknown without either, or for a remote that is a local path (it names no repository)."""
    if name := os.environ.get("GITHUB_REPOSITORY"):
        host = urlsplit(os.environ.get("GITHUB_SERVER_URL", "https://github.com")).netloc
        return f"{host}/{name}".lower()
    found = git.remote_repo(git.answer("remote", "get-url", "origin", cwd=root, timeout=GIT_TIMEOUT_S) or "")
    return "/".join(found).lower() if found else UNKNOWN


def lock_hashes(root: Path = Path()) -> dict[str, str]:
    """Each dvc.lock stage's output hashes (sorted, comma-joined)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    stages: dict[str, Any] = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {
        stage: ",".join(sorted(str(o.get("md5", "")) for o in entry.get("outs", [])))
        for stage, entry in stages.items()
    }


def version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


def identity(model_dir: Path) -> dict[str, str]:
    """The tag that says which model a run or registry version holds: the model's digest, which
    covers the booster and its spec (a new threshold, class names or category levels leave the
    booster unchanged); ``model_version`` everywhere else is its first 12 hex."""
    return {"model.sha256": model_sha256(model_dir)}


def tags(model_dir: Path, root: Path = Path()) -> dict[str, str]:
    """Lineage as flat string tags (MLflow runs and versions, image labels)."""
    out = {
        "git.commit": git_commit(root) or UNKNOWN,
        "git.dirty": str(git_dirty(root)).lower(),
        REPOSITORY_TAG: repository(root),
        **identity(model_dir),
        "package.version": version("mlapp"),
        "xgboost.version": version("xgboost-cpu"),
    }
    pointer = data_pointer(root)
    if pointer is not None:
        out["data.md5"] = pointer.md5 or ""
        out["data.path"] = pointer.path or ""
    for stage, hashes in lock_hashes(root).items():
        out[f"dvc.lock.{stage}"] = hashes[:LOCK_TAG_MAX]
    return out
