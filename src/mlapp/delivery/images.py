"""Image references: environments run images by digest only.

Environments run images by digest only (``name@sha256:<64 hex>``): a tag can move, a
digest cannot. Tags (git SHA, model version) are for humans browsing the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlapp.errors import UserError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# registry/path[:tag]@sha256:...; the name part is lower-case per the OCI distribution spec.
REF_RE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?@(?P<digest>sha256:[0-9a-f]{64})$"
)


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
