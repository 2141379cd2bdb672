"""Image references and the tags/labels the cd workflow builds with.

Environments run images by digest only (``name@sha256:<64 hex>``): a tag can move, a
digest cannot. Tags (git SHA, model version) are for humans browsing the registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlapp.errors import UserError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# registry/path[:tag]@sha256:...; the name part is lower-case per the OCI distribution spec.
REF_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?@(?P<digest>sha256:[0-9a-f]{64})$"
)
LABEL_PREFIX = "io.mlapp."


class ImageError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class ImageRef:
    name: str  # e.g. ghcr.io/acme/churn
    digest: str  # sha256:<64 hex>

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}"

    @property
    def short(self) -> str:
        return self.digest.removeprefix("sha256:")[:12]


def parse(ref: str) -> ImageRef:
    """``name[:tag]@sha256:...`` -> ImageRef; anything without a digest is refused."""
    match = REF_RE.match(ref.strip())
    if not match:
        raise ImageError(
            f"{ref!r} is not an image reference by digest: expected "
            "<registry>/<owner>/<name>@sha256:<64 hex> (environments never run a tag)"
        )
    return ImageRef(match["name"], match["digest"])


def check_digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise ImageError(f"{digest!r} is not a digest (sha256:<64 lower-case hex>)")
    return digest


def image_name(registry: str, repository: str) -> str:
    """GHCR wants lower case; GITHUB_REPOSITORY keeps the owner's capitals."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise ImageError(
            f"repository {repository!r} is not OWNER/NAME (set GITHUB_REPOSITORY or --repository)"
        )
    return f"{registry.rstrip('/')}/{repository.lower()}"


def tags(name: str, git_commit: str, model_version: str) -> list[str]:
    return [f"{name}:{git_commit}", f"{name}:model-{model_version}"]


def labels(
    repository_url: str, git_commit: str, model_version: str, lineage: Mapping[str, str]
) -> dict[str, str]:
    """OCI standard labels plus the pipeline lineage, so `docker inspect` answers "which model"."""
    out = {
        "org.opencontainers.image.source": repository_url,
        "org.opencontainers.image.revision": git_commit,
        "org.opencontainers.image.version": f"model-{model_version}",
        "org.opencontainers.image.title": "mlapp model service",
        "org.opencontainers.image.description": "BentoML service for the model built from this commit",
    }
    for key, value in sorted(lineage.items()):
        out[f"{LABEL_PREFIX}{key}"] = value.replace("\n", " ")
    return out
