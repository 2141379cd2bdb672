"""A local stand-in for the pinned base image, for machines that cannot pull it.

Without a registry (a CI machine with only Debian and PyPI mirrors reachable), podman
cannot pull ``python:3.11-slim``. The stand-in is the same Debian release with its own
python3 (3.11 on bookworm), made with ``debootstrap --variant=minbase`` and imported as
an image: ~130 MB, like the official slim image. It is built once per machine and tag: an
existing tag is reused, and ``make init`` renames the tag with the project, so a renamed project
builds its own the first time. It is never pushed; registry builds use the digest-pinned base.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlapp import proc
from mlapp.errors import UserError
from mlapp.image.engine import Engine
from mlapp.params import StandinBaseParams

# What python:3.11-slim offers a build: python3 with venv/ensurepip, CA certificates, and
# `python`; useradd/groupadd come with minbase (passwd is a required package).
PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
# Left by the package manager; python:3.11-slim does not carry them either.
TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
)


def debootstrap_argv(standin: StandinBaseParams, rootfs: Path) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        standin.suite,
        str(rootfs),
        standin.mirror,
    ]


def trim(rootfs: Path) -> None:
    for relative in TRIM:
        target = rootfs / relative
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir(parents=True)  # apt expects the folders to exist


def ensure(engine: Engine, standin: StandinBaseParams, echo: Callable[[str], None] = print) -> float:
    """Build and import the stand-in unless ``standin.tag`` exists; seconds spent (0 when cached)."""
    if engine.image_exists(standin.tag):
        return 0.0
    if os.geteuid() != 0:
        raise UserError(f"building the stand-in base {standin.tag} needs root (debootstrap, chroot)")
    started = time.monotonic()
    echo(f"building the stand-in base {standin.tag} (debootstrap {standin.suite}, once for this tag)")
    with tempfile.TemporaryDirectory(prefix="mlapp-base-") as tmp:
        rootfs, tarball = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        proc.run(debootstrap_argv(standin, rootfs))
        trim(rootfs)
        proc.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."])
        engine.import_rootfs(tarball, standin.tag)
    return time.monotonic() - started
