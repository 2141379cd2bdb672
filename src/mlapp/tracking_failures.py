"""A tracking store that fails after `connect`: one line saying what failed and what is left.

A server that stopped answering (killed, restarting), one whose artifact store fails (its
``--artifacts-destination``: a missing bucket, credentials it lacks), a local sqlite store that
is locked or cannot be written: each is a ``TrackingUnavailable``, never MLflow's traceback.
How long a request waits, and the line for one that timed out, are ``tracking_timeouts``'s.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import requests
from mlflow.exceptions import MlflowException

from mlapp.errors import TrackingUnavailable, UserError
from mlapp.tracking_timeouts import RETRIES, one_try, request_error, seconds_waited, timed_out, waited

# When to run again, in every "what is left" line below (and each command's own): a server whose
# artifact store failed answers, so `when` replaces it then (``STORE_WORKS``).
ANSWERS = "when the server answers"
STORE_WORKS = "once its artifact store works"
STAGE_UNDONE = f"this stage wrote no outputs. Re-run it {ANSWERS} (`uv run dvc repro`)."
NOT_LOGGED = f"no run was logged (one cut short is never reused). Run this again {ANSWERS}."
PARTLY_DONE = (
    "what it did before stays (a new registry version may lack its aliases; an alias moved or did "
    f"not, whole). Run this again {ANSWERS}."
)
# A server (or a proxy in front of it) that answers `connect`'s read and refuses a write: the
# credentials it is sent, and what this user may do there, are the fix, not waiting for it.
CREDENTIALS = "MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME/PASSWORD)"
ALLOWED = "once the server allows it"
MAY_WRITE = "change this experiment and registered model (EDIT on them, in MLflow's basic auth)"


# sqlite's own words for a store on a full disk and for one it may not write (a read-only file,
# folder or mount).
SQLITE_FULL = "database or disk is full"
SQLITE_READONLY = "attempt to write a readonly database"


class RunNotLogged(TrackingUnavailable):
    """The server failed while a run was logged (``said``): the command says what that leaves,
    and ``when`` to run it again."""

    def __init__(self, said: str, then: str = NOT_LOGGED, when: str = ANSWERS) -> None:
        super().__init__(f"{said} {then.replace(ANSWERS, when)}")
        self.said = said
        self.when = when


@contextlib.contextmanager
def store_free(uri: str, doing: str = "registering", unlogged: str = NOT_LOGGED) -> Iterator[None]:
    """MLflow calls on a local sqlite store that another process holds locked (a second
    `make run`, an `mlflow` command or notebook writing to it), or that cannot be created or
    written (a folder that cannot be made, a read-only disk), or on a server that stopped
    answering after `connect` (while ``doing``), fail in one line saying so, not with
    SQLAlchemy's or MLflow's traceback. A run that could not be logged ends with ``unlogged``:
    what that leaves is the command's to say (a stage wrote no outputs, nothing was registered)."""
    try:
        yield
    except RunNotLogged as exc:
        raise RunNotLogged(exc.said, unlogged, exc.when) from exc.__cause__
    except Exception as exc:
        if not uri.startswith("sqlite:"):
            raise_if_server_failed(exc, doing)
            raise
        chain = [exc, exc.__cause__, exc.__context__]
        if any("database is locked" in str(e) for e in chain if e):
            raise TrackingUnavailable(
                f"the MLflow store {uri} is locked by another process writing to it (a second "
                "`make run`, an `mlflow` command or a notebook): run this again once it is done"
            ) from exc
        if said := _unwritable(exc, chain):
            raise _cannot_write(uri, said, full=_full(exc, chain)) from exc
        raise


def _cannot_write(uri: str, said: str, full: bool = False) -> TrackingUnavailable:
    fix = "point MLFLOW_TRACKING_URI (or params.yaml's mlflow.tracking_uri) at a writable place"
    free = "free space on that disk, or " if full else ""
    return TrackingUnavailable(f"cannot write the MLflow store {uri} or its artifacts ({said}): {free}{fix}")


def creatable(uri: str) -> None:
    """A local store not made yet where no file can be (a read-only folder or mount) fails at once:
    MLflow retried opening it for 100 s, silently (its log is off), then raised a traceback."""
    path = Path(uri.removeprefix("sqlite:///").partition("?")[0]).absolute()
    if uri.startswith("sqlite:///") and not path.exists():
        folder = next(p for p in path.parents if p.exists())  # MLflow makes the ones missing
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _cannot_write(uri, f"no file can be created in {folder}")


def _full(exc: Exception, chain: list[BaseException | None]) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or any(SQLITE_FULL in str(e) for e in chain if e)


def _unwritable(exc: Exception, chain: list[BaseException | None]) -> str | None:
    """Why a local store could not be written (``None``: not that): a file write's OSError (a
    folder that cannot be made, a full disk for the artifacts), or sqlite's own words for a full
    disk or a read-only file, which SQLAlchemy raises as an OperationalError (no OSError)."""
    if isinstance(exc, OSError) and not isinstance(exc, UserError):  # ModelMissing is one too
        return str(exc)
    return next((f"sqlite: {words}" for words in (SQLITE_FULL, SQLITE_READONLY)
                 if any(words in str(e) for e in chain if e)), None)  # fmt: skip


def end_failed() -> None:
    """Mark the active run failed, trying once: a server that just failed every retry is likely
    gone, and cannot mark it either (a run left RUNNING is never used by ``find_run``)."""
    with one_try(), contextlib.suppress(Exception):
        mlflow.end_run(status="FAILED")


def raise_if_server_failed(
    exc: Exception,
    what: str,
    then: str = PARTLY_DONE,
    error: type[RunNotLogged] | None = None,
    may: str = MAY_WRITE,
) -> None:
    """A tracking server that answered `connect` and fails now, in one line naming ``what`` (a
    refusal: that this user ``may`` do it); a ``RunNotLogged`` (``error``) leaves ``then`` to the
    command's ``store_free``."""
    uri = mlflow.get_tracking_uri()
    failed = isinstance(exc, MlflowException | requests.RequestException | OSError)
    if not failed or isinstance(exc, UserError) or not uri.startswith(("http://", "https://")):
        return
    said, when = _what_failed(exc, uri, what, may)
    if error is not None:
        raise error(said, when=when) from exc
    raise TrackingUnavailable(f"{said} {then.replace(ANSWERS, when)}") from exc


def _what_failed(exc: Exception, uri: str, what: str, may: str) -> tuple[str, str]:
    """``raise_if_server_failed``'s line, and when to run again."""
    if answer := refused(exc):
        return (
            f"MLflow tracking server {uri} refused this client while {what} ({answer}): check "
            f"{CREDENTIALS}, and that this user may {may};",
            ALLOWED,
        )
    kind = timed_out(exc)
    store = None if kind else _artifact_store_error(exc)  # its probe would wait on a stuck server too
    tries = int(os.environ.get(RETRIES, "0")) + 1
    if store:
        return (
            f"MLflow tracking server {uri} answers, but storing artifacts failed while {what} "
            f"({store}; {tries} tries): its artifact store failed (the server's --artifacts-destination: "
            "a missing bucket, or credentials the server lacks; the server's log says which);",
            STORE_WORKS,
        )
    if kind:
        what = f"{what} (storing its artifacts)" if _artifact_request(exc) else what
        said = waited(uri, kind, seconds_waited(exc), f"while {what}, on each of {tries} tries")
        return f"{said};", ANSWERS
    said = too_many(request_error(exc)) or exc.__class__.__name__
    return f"MLflow tracking server {uri} failed while {what} ({said});", ANSWERS


def too_many(error: requests.RequestException | None) -> str | None:
    """urllib3's words for a call whose every try was answered with a status MLflow retries
    ("too many 503 error responses"): the status is what tells a proxy's 502 from a server's 500."""
    if not isinstance(error, requests.exceptions.RetryError) or not error.args:
        return None
    said = getattr(error.args[0], "reason", None)
    return str(said) if said is not None else None


def refused(exc: BaseException) -> str | None:
    """What a 401 or 403 answer in ``exc`` said (``None``: none refused it). MLflow raises one for
    an API call, naming the endpoint and the body; requests' HTTPError for an artifact upload."""
    if isinstance(exc, MlflowException) and exc.get_http_status_code() in (401, 403):
        said = " ".join(exc.message.split())
        return said if len(said) <= 200 else f"{said[:200]}…"
    error = request_error(exc)
    response = error.response if error is not None else None
    if response is None or response.status_code not in (401, 403):
        return None
    return f"{response.status_code}: {' '.join(response.text.split())[:120]}"


def _artifact_store_error(exc: BaseException | None) -> str | None:
    """How an artifact upload failed, if that failed ``exc`` and the server still answers. It
    proxies its artifact store (``--serve-artifacts``) and answers 500 when that fails (or closes
    a large upload's connection first); the reason stays in its log."""
    exc = _artifact_request(exc)
    if exc is None:
        return None
    try:
        with one_try():
            mlflow.search_experiments(max_results=1)  # the server itself answers
    except Exception:
        return None
    return too_many(exc) or exc.__class__.__name__


def _artifact_request(exc: BaseException | None) -> requests.RequestException | None:
    """``exc``'s requests error if it failed an artifact upload or download (``--serve-artifacts``)."""
    error = request_error(exc)
    request = error.request if error is not None else None
    return error if request is not None and "/mlflow-artifacts/" in (request.url or "") else None
