"""A tracking store that fails after `connect`: one line saying what failed and what is left.

A server that stopped answering (killed, restarting), one whose artifact store fails (its
``--artifacts-destination``: a missing bucket, credentials it lacks), a local sqlite store that
is locked or cannot be written: each is a ``TrackingUnavailable``, never MLflow's traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import mlflow
import requests
from mlflow.exceptions import MlflowException

from mlapp.errors import TrackingUnavailable, UserError

RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"  # read by MLflow at each request
STAGE_UNDONE = "this stage wrote no outputs. Re-run it when the server answers again (`uv run dvc repro`)."
NOT_LOGGED = "no run was logged (one cut short is never reused). Run this again when the server answers."
PARTLY_DONE = (
    "what it did before stays (a new registry version may lack its aliases; an alias moved or did "
    "not, whole). Run this again when the server answers."
)


class RunNotLogged(TrackingUnavailable):
    """The server failed while a run was logged (``said``): the command says what that leaves."""

    def __init__(self, said: str, then: str = NOT_LOGGED) -> None:
        super().__init__(f"{said} {then}")
        self.said = said


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
        raise RunNotLogged(exc.said, unlogged) from exc.__cause__
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
        if isinstance(exc, OSError) and not isinstance(exc, UserError):  # ModelMissing is one too
            raise TrackingUnavailable(
                f"cannot write the MLflow store {uri} or its artifacts ({exc}): point "
                "MLFLOW_TRACKING_URI (or params.yaml's mlflow.tracking_uri) at a writable place"
            ) from exc
        raise


@contextlib.contextmanager
def one_try() -> Iterator[None]:
    """MLflow's requests in here are not retried: after a call that failed every retry."""
    before = os.environ.get(RETRIES)
    os.environ[RETRIES] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[RETRIES]
        else:
            os.environ[RETRIES] = before


def end_failed() -> None:
    """Mark the active run failed, trying once: a server that just failed every retry is likely
    gone, and cannot mark it either (a run left RUNNING is never used by ``find_run``)."""
    with one_try(), contextlib.suppress(Exception):
        mlflow.end_run(status="FAILED")


def raise_if_server_failed(
    exc: Exception, what: str, then: str = PARTLY_DONE, error: type[RunNotLogged] | None = None
) -> None:
    """A tracking server that answered `connect` and fails now, in one line naming ``what``;
    a ``RunNotLogged`` (``error``) leaves ``then`` to the command's ``store_free``."""
    uri = mlflow.get_tracking_uri()
    failed = isinstance(exc, MlflowException | requests.RequestException | OSError)
    if not failed or isinstance(exc, UserError) or not uri.startswith(("http://", "https://")):
        return
    store = _artifact_store_error(exc)
    said = (
        f"MLflow tracking server {uri} answers, but storing artifacts failed while {what} "
        f"({store}): its artifact store failed (the server's --artifacts-destination: a missing "
        f"bucket, or credentials the server lacks; the server's log says which)."
        if store
        else f"MLflow tracking server {uri} failed while {what} ({exc.__class__.__name__});"
    )
    if error is not None:
        raise error(said) from exc
    raise TrackingUnavailable(f"{said} {then}") from exc


def _artifact_store_error(exc: BaseException | None) -> str | None:
    """How an artifact upload failed, if that failed ``exc`` and the server still answers. It
    proxies its artifact store (``--serve-artifacts``) and answers 500 when that fails (or closes
    a large upload's connection first); the reason stays in its log."""
    while exc is not None and not isinstance(exc, requests.RequestException):
        exc = exc.__cause__ or exc.__context__
    request = exc.request if exc is not None else None
    if exc is None or request is None or "/mlflow-artifacts/" not in (request.url or ""):
        return None
    try:
        with one_try():
            mlflow.search_experiments(max_results=1)  # the server itself answers
    except Exception:
        return None
    said = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's "too many 500 …"
    return str(said) if isinstance(exc, requests.exceptions.RetryError) else exc.__class__.__name__
