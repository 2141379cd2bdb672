"""Build the bento from the current ``models/`` with lineage baked in (``mlapp serving bento``).

Steps: write ``serving.lineage`` (git commit, data hash, model version) and the serving-only
settings (``settings.CONFIG_FILE``: the bento carries no params.yaml), export the
locked core + ``serving`` extra from ``uv.lock`` as the bento's requirements, check
that ``bentofile.yaml`` includes every file the service will read, build with lineage
labels, and optionally export a Docker build context (bento + generated Dockerfile) for
CI, where ``docker/build-push-action`` turns it into an image.

The bento version is ``<model version>-<git commit[:8]>`` (``-dirty`` when tracked files
have uncommitted changes), so the same model and code give the same tag; rebuilding an
existing tag replaces it in the local store, once the new one is complete (``_replacing``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pathspec import PathSpec

from mlapp import proc
from mlapp.errors import UserError
from mlapp.model import MODEL_FILE, SPEC_FILE, missing
from mlapp.params import Params
from mlapp.serving import lineage, settings

if TYPE_CHECKING:
    import bentoml
    from bentoml._internal.bento.bento import BentoStore

BENTOFILE = Path("bentofile.yaml")
DOCKERFILE = Path("env/docker/Dockerfile")  # inside a bento and inside the exported context


@dataclass(frozen=True)
class BuiltBento:
    tag: str
    path: Path
    lineage: lineage.Lineage
    docker_context: Path | None

    def outputs(self) -> dict[str, str]:
        """KEY=VALUE facts for CI (``>> "$GITHUB_OUTPUT"``)."""
        facts = {
            "tag": self.tag,
            "version": self.tag.split(":", 1)[1],
            "path": str(self.path),
            "model_version": self.lineage.model_version,
            "git_commit": self.lineage.git_commit,
            "data_hash": self.lineage.data_hash,
        }
        if self.docker_context is not None:
            facts["docker_context"] = str(self.docker_context)
            facts["dockerfile"] = str(self.docker_context / DOCKERFILE)
        return facts


def required_files(params: Params) -> list[Path]:
    """What the service reads at start-up; the bento must carry each of them."""
    model_dir = params.train.model_dir
    return [
        settings.CONFIG_FILE,
        model_dir / MODEL_FILE,
        model_dir / SPEC_FILE,
        params.evaluate.metrics,
        params.serving.lineage,
    ]


def check_includes(bentofile: Path, files: list[Path]) -> None:
    config = yaml.safe_load(bentofile.read_text())
    spec = PathSpec.from_lines("gitwildmatch", config.get("include") or ["*"])
    missing = [str(f) for f in files if not spec.match_file(f.as_posix())]
    if missing:
        raise UserError(f"{bentofile} `include` does not cover {missing}: add them so the bento can serve")


def find_uv() -> str:
    """uv's path; `uv run` says where it is (``$UV``) even when uv itself is not on PATH."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise UserError("`uv` not found (bentoml build needs it too): run `make setup`")
    return uv


def export_requirements(dest: Path, uv: str, *, hashes: bool = False) -> Path:
    """The locked closure of the core + `serving` extra: same versions as uv.lock, no dev tools.

    ``hashes``: with each artifact's sha256 from uv.lock (`pip/uv install --require-hashes`).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = ["export", "--frozen", "--no-dev", "--extra", "serving", "--no-emit-project"]
    args += [] if hashes else ["--no-hashes"]
    proc.run([uv, *args, "--no-header", "--no-annotate", "--quiet", "-o", str(dest)])
    return dest


def bento_version(facts: lineage.Lineage) -> str:
    version = f"{facts.model_version}-{facts.git_commit[:8]}"
    return f"{version}-dirty" if facts.git_dirty else version


def export_docker_context(bento_tag: str, dest: Path) -> Path:
    """The bento plus BentoML's generated Dockerfile: a plain `docker build` context."""
    import bentoml
    from bentoml._internal.container import construct_containerfile  # no public API for this step

    bento = bentoml.get(bento_tag)
    if dest.exists():
        shutil.rmtree(dest)
    with construct_containerfile(bento, enable_buildkit=True) as (context, _dockerfile):
        shutil.copytree(context, dest)
    return dest


def build(params: Params, bentofile: Path = BENTOFILE, docker_context: Path | None = None) -> BuiltBento:
    model_dir = params.train.model_dir
    if not (model_dir / MODEL_FILE).is_file():
        raise missing(model_dir)
    if not bentofile.is_file():
        raise UserError(f"{bentofile} not found: run from the repository root")
    facts = lineage.from_repo(model_dir, source="bento")
    lineage.write(facts, params.serving.lineage)
    settings.ServingConfig.of(params).write(settings.CONFIG_FILE)
    check_includes(bentofile, required_files(params))
    requirements = yaml.safe_load(bentofile.read_text())["python"]["requirements_txt"]
    uv = find_uv()
    export_requirements(Path(requirements), uv)
    # bentoml build runs `uv` by name (and pip-installs it when missing): put ours first on PATH.
    os.environ["PATH"] = f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    tag = f"{params.serving.bento_name}:{bento_version(facts)}"
    labels = {key: str(value).lower() for key, value in facts.model_dump().items() if key != "source"}
    bento = _store(bentofile, tag, labels)
    context = export_docker_context(str(bento.tag), docker_context) if docker_context else None
    return BuiltBento(str(bento.tag), Path(bento.path), facts, context)


def _store(bentofile: Path, tag: str, labels: dict[str, str]) -> bentoml.Bento:
    """``bentofile``'s bento, built into the local store as ``tag``. BentoML copies the files into
    a folder under ``$BENTOML_HOME/tmp`` first and leaves it there when a copy fails (a full disk:
    another partial copy at each try, 52 lines of traceback): removed, and said in one line."""
    import bentoml
    from bentoml._internal.configuration.containers import BentoMLContainer

    name, version = tag.split(":")
    tmp = Path(BentoMLContainer.tmp_bento_store_dir.get())
    before = set(tmp.glob(f"bentoml_bento_{name}*"))
    try:
        return bentoml.bentos.build_bentofile(
            str(bentofile), name=name, version=version, labels=labels, _bento_store=_replacing()
        )
    except OSError as exc:
        for left in set(tmp.glob(f"bentoml_bento_{name}*")) - before:
            shutil.rmtree(left, ignore_errors=True)
        home = BentoMLContainer.bentoml_home.get()
        code, file = _failed(exc)
        room = "free space there, or " if code == errno.ENOSPC else ""
        raise UserError(
            f"cannot build the bento in the BentoML store {home} ({os.strerror(code) if code else exc}: "
            f"{file}): {room}set BENTOML_HOME to a writable folder with room"
        ) from exc


def _failed(exc: OSError) -> tuple[int | None, str | None]:
    """The errno and file of a failed copy. The move from ``tmp`` into the store is a copytree,
    whose ``shutil.Error`` lists (source, target, why) per file, with no errno or filename: on a
    disk with room for one copy of the bento, not two, that said "(None: None)"."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        _source, target, why = exc.args[0][0]
        code = re.match(r"\[Errno (\d+)\]", str(why))
        return (int(code[1]) if code else None), target
    return exc.errno, exc.filename2 or exc.filename


def _replacing() -> BentoStore:
    """BentoML's store, in which a bento saved under a tag it holds (the same model and commit:
    the tag must always mean the files built last) replaces the stored one only once its own copy
    is complete. The stored one is moved aside (a rename into ``$BENTOML_HOME/tmp``), put back if
    the copy fails (a full disk, Ctrl-C) and removed after: a failed build loses nothing. Until
    then BentoML's build copies the files into its tmp folder, with the stored bento in place.
    Only a SIGKILL during the copy leaves the stored one aside, in that tmp folder."""
    from bentoml import Tag
    from bentoml._internal.bento.bento import BentoStore
    from bentoml._internal.configuration.containers import BentoMLContainer

    class Replacing(BentoStore):
        @contextlib.contextmanager
        def register(self, tag: str | Tag) -> Iterator[str]:
            stored = self._path / Tag.from_taglike(tag).path()
            if not stored.exists():
                with super().register(tag) as path:
                    yield path
                return
            tmp = Path(BentoMLContainer.tmp_bento_store_dir.get())
            tmp.mkdir(parents=True, exist_ok=True)
            aside = Path(tempfile.mkdtemp(prefix="mlapp_replaced_", dir=tmp))
            stored.rename(aside / "bento")
            try:
                with super().register(tag) as path:
                    yield path
            except BaseException:
                # A copy stopped by Ctrl-C (BentoML removes one that failed, not one interrupted).
                shutil.rmtree(stored, ignore_errors=True)
                (aside / "bento").rename(stored)
                raise
            finally:
                shutil.rmtree(aside, ignore_errors=True)

    return Replacing(BentoMLContainer.bento_store_dir.get())
