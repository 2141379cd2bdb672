"""Errors that mean "the user must fix something": the CLI prints them without a traceback."""

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

# scheme://user:password@host: MLflow, DVC and git take credentials in a URL, and a message that
# names the URL (a server that does not answer, a failed push) must not print them.
URL_CREDENTIALS = re.compile(r"(?<![\w+.-])([a-zA-Z][\w+.-]*://)[^/\s@]+@")


class UserError(Exception):
    pass


class ParamsError(UserError, ValueError):
    """params.yaml is missing or does not match the expected structure."""


class TrackingUnavailable(UserError, RuntimeError):
    """The MLflow tracking server does not answer."""


def redact(text: str) -> str:
    """``text`` with every URL's user and password (``scheme://user:pass@``) shown as ``***``."""
    return URL_CREDENTIALS.sub(r"\1***@", text)


def storage_errors() -> tuple[type[Exception], ...]:
    """What reading a path or URL raises when the file, network, endpoint or credentials fail:
    OSError, and for s3:// botocore's own errors (no credentials, endpoint unreachable), which
    are not OSErrors. A reader turns them into one line naming the source."""
    try:
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
    except ImportError:  # no S3 support installed
        return (OSError,)
    return (OSError, BotoCoreError)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """A write that fails (a read-only or full disk, no permission, a file where a folder goes)
    said in one line naming the file, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
