"""The image's Docker build context: the exported bento, our Dockerfile, hashed requirements.

``prepare`` builds the bento (``mlapp.serving.bento``: lineage, the locked `serving`
dependency group, include checks) and exports it as a build context, then adds:

- ``Dockerfile``: ``src/mlapp/image/Dockerfile`` with ``ARG BASE_IMAGE`` defaulting to
  params ``image.base``, which must be pinned by digest. A plain ``docker build <context>``
  (or docker/build-push-action) therefore starts from exactly that base, with no build
  argument to forget; a local build may pass another ``BASE_IMAGE``.
- ``requirements.txt``: core + the `serving` extra, each artifact's sha256 (``--require-hashes``).
- ``build-requirements.txt``: uv, at its uv.lock version and hashes, for the builder stage.
"""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mlapp.errors import UserError
from mlapp.params import Params
from mlapp.serving import bento

TEMPLATE = Path(__file__).with_name("Dockerfile")
BASE_ARG = "BASE_IMAGE"
PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
INSTALLER = "uv"  # the builder stage's installer (pip only bootstraps it)


@dataclass(frozen=True)
class Context:
    path: Path
    base: str  # the Dockerfile's pinned default base
    bento: bento.BuiltBento

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"


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


def prepare(params: Params, lock: Path = Path("uv.lock"), template: Path = TEMPLATE) -> Context:
    """Build the bento and write the complete build context to params ``image.context``, readable
    by the image's user whatever the umask it was written under."""
    dest = params.image.context
    built = bento.build(params, docker_context=dest)
    (dest / "Dockerfile").write_text(render_dockerfile(template.read_text(), params.image.base))
    bento.export_requirements(dest / "requirements.txt", bento.find_uv(), hashes=True)
    (dest / "build-requirements.txt").write_text(installer_requirements(lock))
    readable_by_all(dest)
    return Context(dest, params.image.base, built)
