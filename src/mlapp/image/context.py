"""The image's Docker build context: the exported bento, our Dockerfile, hashed requirements.

``prepare`` builds the bento (``mlapp.serving.bento``: lineage, the locked `serving`
dependency group, include checks) and exports it as a build context, then adds:

- ``Dockerfile``: ``src/mlapp/image/Dockerfile`` with ``ARG BASE_IMAGE`` defaulting to
  params ``image.base``, which must be pinned by digest. A plain ``docker build <context>``
  (or docker/build-push-action) therefore starts from exactly that base, with no build
  argument to forget; a local build may pass another ``BASE_IMAGE``.
- ``requirements.txt``: core + the `serving` extra, each artifact's sha256 (``--require-hashes``).
- ``build-requirements.txt``: uv, at its uv.lock version and hashes, for the builder stage.

Reproducible: the same commit gives the same context bytes, hence (with ``epoch`` as
SOURCE_DATE_EPOCH, the commit's time, not now) the same image ID. BentoML stamps the
bento's build time into ``bento.yaml``: that becomes the commit's time too.
"""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlapp import git
from mlapp.errors import UserError
from mlapp.image.engine import EPOCH_ARG
from mlapp.params import Params
from mlapp.serving import bento

TEMPLATE = Path(__file__).with_name("Dockerfile")
BASE_ARG = "BASE_IMAGE"
PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
INSTALLER = "uv"  # the builder stage's installer (pip only bootstraps it)
CREATION_TIME = re.compile(r"(?m)^creation_time: .*$")


@dataclass(frozen=True)
class Context:
    path: Path
    base: str  # the Dockerfile's pinned default base
    bento: bento.BuiltBento
    epoch: int  # the source commit's time: every timestamp in the image

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"

    def build_args(self, base: str) -> dict[str, str]:
        """The build's arguments: the base it starts from and the commit's time."""
        return {BASE_ARG: base, EPOCH_ARG: str(self.epoch)}


def render_dockerfile(template: str, base: str) -> str:
    """``template`` with its one bare ``ARG BASE_IMAGE`` given ``base`` as default."""
    if not PINNED.match(base):
        raise UserError(f"image.base must be pinned by digest (<name>@sha256:<64 hex>), got {base!r}")
    bare = f"ARG {BASE_ARG}\n"
    if template.count(bare) != 1:
        raise UserError(f"the Dockerfile template must declare `{bare.strip()}` once, without a default")
    return template.replace(bare, f"ARG {BASE_ARG}={base}\n", 1)


def installer_requirements(lock: Path, package: str = INSTALLER) -> str:
    """A pip requirement for ``package`` at its uv.lock version, with all of its artifact hashes."""
    entries = tomllib.loads(lock.read_text())["package"]
    found = [entry for entry in entries if entry["name"] == package]
    if not found:
        raise UserError(f"{package} is not in {lock}: it must stay a locked (dev) dependency")
    entry = found[0]
    artifacts = [*entry.get("wheels", []), *([entry["sdist"]] if "sdist" in entry else [])]
    hashes = sorted(artifact["hash"] for artifact in artifacts)
    if not hashes:
        raise UserError(f"{lock} has no hashes for {package}")
    options = "".join(f" \\\n    --hash={digest}" for digest in hashes)
    return f"{package}=={entry['version']}{options}\n"


def readable_by_all(root: Path) -> None:
    """Every file below ``root`` readable by all and every folder open to all (``chmod -R a+rX``).
    COPY keeps a file's mode and makes it root's, and the image's server runs as another user
    (bentoml): a checkout, model or bento written under a private umask (077: 0600) was a file
    the server could not read. Nothing in the context is secret (build secrets are mounted)."""
    for path in [root, *root.rglob("*")]:  # rglob enters no linked folder: nothing outside changes
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        opened = 0o555 if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0o444
        path.chmod(mode | opened)


def source_epoch(root: Path = Path()) -> int:
    """The commit's time (seconds since 1970): a rebuild of the same commit, any day, gets it."""
    answer = git.answer("log", "-1", "--format=%ct", cwd=root)
    if not answer:
        raise UserError("the image's timestamps are the source commit's time: build it in a git checkout")
    return int(answer)


def stamp_creation_time(bento_yaml: Path, epoch: int) -> None:
    """``bento.yaml``'s ``creation_time`` (the moment BentoML built it) set to ``epoch``."""
    moment = datetime.fromtimestamp(epoch, UTC).isoformat()
    text, count = CREATION_TIME.subn(f"creation_time: '{moment}'", bento_yaml.read_text(), count=1)
    if count != 1:
        raise UserError(f"{bento_yaml} has no creation_time line: BentoML changed its format")
    bento_yaml.write_text(text)


def prepare(params: Params, lock: Path = Path("uv.lock"), template: Path = TEMPLATE) -> Context:
    """Build the bento and write the complete build context to params ``image.context``, readable
    by the image's user whatever the umask it was written under."""
    dest = params.image.context
    epoch = source_epoch()
    built = bento.build(params, docker_context=dest)
    stamp_creation_time(dest / "bento.yaml", epoch)
    (dest / "Dockerfile").write_text(render_dockerfile(template.read_text(), params.image.base))
    bento.export_requirements(dest / "requirements.txt", bento.find_uv(), hashes=True)
    (dest / "build-requirements.txt").write_text(installer_requirements(lock))
    readable_by_all(dest)
    return Context(dest, params.image.base, built, epoch)
