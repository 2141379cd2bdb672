"""Errors that mean "the user must fix something": the CLI prints them without a traceback."""

import contextlib
import errno
import importlib
import re
import resource
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn

# scheme://user:password@host: MLflow, DVC and git take credentials in a URL, and a message that
# names the URL (a server that does not answer, a failed push) must not print them.
# The userinfo runs to the authority's last '@', as clients read it: a password holding an '@'
# not written %40 (bob:p@ss@host) is hidden whole, not shown from its '@' on.
URL_CREDENTIALS = re.compile(r"(?<![\w+.-])([a-zA-Z][\w+.-]*://)[^/\s?#'\"]+@")
# A pre-signed URL (S3, GCS, an Azure SAS) carries its credential in the query: a batch to
# score or monitor given as one must not print it in "cannot read <url>" either.
URL_SIGNATURE = re.compile(
    r"([?&](?:x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)|sig|"
    r"signature|token|access_token|api_key)=)[^&#\s'\":;,)>]+",  # a value: hex, base64 URL-encoded
    re.IGNORECASE,
)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C


# What a server that let a request time out did, in the one wording every message uses (the smoke
# test, `delivery wait`, MLflow's client): whether it took the connection tells a host that is down
# or firewalled from a server that is stuck.
SILENCES = {"connect": "did not accept the connection", "read": "accepted the connection but did not answer"}


def unanswered(server: str, kind: str, seconds: str) -> str:
    """``server`` (its name and URL) timed out: ``kind`` is a ``SILENCES`` key, ``seconds`` the wait."""
    return f"{server} {SILENCES[kind]} within {seconds} s"


# How to make a pipeline output that is not there (a model, a table, metrics), as every reader says it.
PIPELINE_FIRST = "run the pipeline first (`make run`, or `uv run dvc repro`)"


def not_built(what: str) -> str:
    """``what`` (a pipeline output, named with its path) is not there, and how to make it."""
    return f"{what} not found: {PIPELINE_FIRST}"


class UserError(Exception):
    pass


class ParamsError(UserError, ValueError):
    """params.yaml is missing or does not match the expected structure."""


class TrackingUnavailable(UserError, RuntimeError):
    """The MLflow tracking server does not answer."""


def interrupted() -> NoReturn:
    """How a command stopped by Ctrl-C ends: one line and exit 130, not a traceback, nor click's
    "Aborted!" and exit 1 (a command's documented "no")."""
    print("error: interrupted", file=sys.stderr)
    # CPython notes a KeyboardInterrupt that left code run by an exec() or eval() of a string
    # (dataclasses and namedtuple write their methods so: an import as the Ctrl-C came) as
    # unhandled, though it is handled here, and `python -m` ends such a process by killing it
    # with SIGINT after this exit (-2 to its caller, not 130). Each exec() of a string clears
    # that note first: this empty one says it was handled.
    exec("")  # noqa: S102 - no code: only the interpreter's note is cleared
    sys.exit(EXIT_INTERRUPTED)


def run_main(module: str) -> NoReturn:
    """``python -m <module>`` for a module runnable alone (the serving image's batch scorer, its
    server): the exit code of its ``main()``, and a Ctrl-C ended as ``interrupted``, while it
    imports too. The module calls this first thing when run (``__name__ == "__main__"``), before
    its own imports: it is imported here again by its name, the copy run as ``__main__`` stops."""
    try:
        code = importlib.import_module(module).main()
    except KeyboardInterrupt:
        interrupted()
    except Exception as exc:  # out of memory: one line, as the CLI says it; anything else a bug's traceback
        if (said := out_of_memory(exc)) is None:
            raise
        print(out_of_memory_line(said), file=sys.stderr)
        code = 2
    sys.exit(code)


def redact(text: str) -> str:
    """``text`` with every URL's user and password (``scheme://user:pass@``) and the signature
    parameters of a pre-signed URL (``?X-Amz-Signature=``, ``&sig=``, ...) shown as ``***``."""
    return URL_SIGNATURE.sub(r"\1***", URL_CREDENTIALS.sub(r"\1***@", text))


def storage_errors() -> tuple[type[Exception], ...]:
    """What reading a path or URL raises when the file, network, endpoint or credentials fail:
    OSError, and for s3:// botocore's own errors (no credentials, endpoint unreachable), which
    are not OSErrors. A reader turns them into one line naming the source."""
    try:
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
    except ImportError:  # no S3 support installed
        return (OSError,)
    return (OSError, BotoCoreError)


# What a write refused for want of permission fails with: a read-only mount, a folder not the user's.
REFUSED = (errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def writing(path: Path, refused: str = "") -> Iterator[None]:
    """A write that fails (a read-only or full disk, no permission, a file where a folder goes)
    said in one line naming the file, not a traceback; ``refused``: what to do about a write
    refused (``REFUSED``), said after it."""
    try:
        yield
    except OSError as exc:
        fix = f": {refused}" if refused and exc.errno in REFUSED else ""
        raise UserError(f"cannot write {path}: {exc.strerror or exc}{fix}") from exc


def signals_noted(signum: int) -> list[int]:
    """Each ``signum`` this process gets from now on, handled first by the handler set before."""
    seen: list[int] = []
    previous = signal.getsignal(signum)

    def note(number: int, frame: FrameType | None) -> None:
        seen.append(number)
        if callable(previous):
            previous(number, frame)

    signal.signal(signum, note)
    return seen


@contextlib.contextmanager
def interrupts_kept(*lost_as: type[Exception]) -> Iterator[None]:
    """Ctrl-C inside the block stays a KeyboardInterrupt: pandas' C parser reads through a Python
    callback, and a KeyboardInterrupt raised there can come out as its ParserError ("Calling
    read(nbytes) on source failed"), a table called unreadable (validate's report; exit 2, not
    130). An error of ``lost_as`` after a Ctrl-C while the block ran is raised as the interrupt.
    Only where Python's own handler is set (the CLI's main thread): elsewhere SIGINT is not a
    KeyboardInterrupt here, or no handler can be set."""
    previous = signal.getsignal(signal.SIGINT)
    if (
        previous is not signal.default_int_handler
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    noted = signals_noted(signal.SIGINT)  # then Python's handler: the KeyboardInterrupt
    try:
        yield
    except lost_as:
        if noted:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def out_of_memory(exc: BaseException) -> str | None:
    """What said memory ran out, if ``exc`` did: Python's MemoryError (numpy's "Unable to allocate
    7.28 TiB for an array ...") or C++'s std::bad_alloc, which XGBoost raises as an XGBoostError
    (training under `ulimit -v 800000` ended with its traceback). ``None``: something else."""
    if isinstance(exc, MemoryError):
        return str(exc) or "MemoryError"
    # Under `ulimit -v` a library that could not be mapped is an ImportError (xgboost's own wording
    # of it: 57 lines on OpenMP), a thread whose stack could not be mapped threading's RuntimeError.
    said = str(exc)
    known = ("std::bad_alloc", "failed to map segment from shared object", "can't start new thread")
    if isinstance(exc, SystemError) and address_space_limited():
        # "error return without exception set": an extension module that lost its MemoryError, as
        # pandera's import under `ulimit -v 305000` did (a 30-line traceback); without the limit, a bug.
        return f"{said}, under an address-space limit"
    return next((text for text in known if text in said), None)


def address_space_limited() -> bool:
    """Whether this process runs under an address-space limit (`ulimit -v`, RLIMIT_AS), where an
    error that lost its cause is running out of it."""
    return resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY


def out_of_memory_line(said: str) -> str:
    """The one line a command out of memory ends with (``said``: ``out_of_memory``'s)."""
    return (
        f"error: out of memory ({said}): free memory, or raise the limit this command runs under "
        "(`ulimit -v`, the container's or CI job's memory)"
    )
