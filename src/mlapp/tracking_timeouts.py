"""How long MLflow's HTTP requests wait, and a request that timed out in one line.

MLflow reads its retries and its wait for an answer from the environment at each request: this
process sets them (``default_timeout``, ``one_try``, ``uploading``), and reads from an exception
how a request timed out and how long it waited (``timed_out``, ``seconds_waited``, ``waited``).
What a failure leaves, and what to do then, is ``tracking_failures``'s.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

from mlapp.errors import unanswered

RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"  # read by MLflow at each request
# Also read at each request: how long one read of an answer may wait (requests' read timeout, per
# socket read, not the whole call; while a body is sent, per send). MLflow's 120 s, retried 4
# times, held evaluate 10.5 min on a server that accepted connections and never answered; a
# healthy server answers an API call in well under a second. An artifact upload is the one long
# silence: a server proxying S3 stores the whole file before it answers, so `uploading` keeps
# MLflow's 120 s there.
TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
API_TIMEOUT_S = "30"
UPLOAD_TIMEOUT_S = "120"
# Set with TIMEOUT where `connect` defaults it, never else: a user's own 30 is theirs during
# uploads too. In the environment, as TIMEOUT is: a stage's process inherits both or neither.
DEFAULTED = "MLAPP_DEFAULTED_MLFLOW_HTTP_REQUEST_TIMEOUT"


@contextlib.contextmanager
def _setting(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def one_try() -> contextlib.AbstractContextManager[None]:
    """MLflow's requests in here are not retried: after a call that failed every retry."""
    return _setting(RETRIES, "0")


def default_timeout() -> None:
    """``API_TIMEOUT_S`` for MLflow's API calls unless the user set a wait (``DEFAULTED`` says so)."""
    if TIMEOUT not in os.environ:
        os.environ[TIMEOUT] = os.environ[DEFAULTED] = API_TIMEOUT_S


def users_timeout() -> str | None:
    """``TIMEOUT`` if the user set it, ``None`` if unset or ``default_timeout``'s (of this process,
    or of the one that started it: both variables are inherited)."""
    value = os.environ.get(TIMEOUT)
    return None if value is not None and value == os.environ.get(DEFAULTED) else value


def uploading() -> contextlib.AbstractContextManager[None]:
    """MLflow's own 120 s wait for an answer while artifacts are uploaded, unless the user set
    a wait (any, 30 too; ``default_timeout``): a server that stores them in S3 answers once its
    own upload of the file ended, silent meanwhile, longer the larger the model."""
    if users_timeout() is not None or DEFAULTED not in os.environ:
        return contextlib.nullcontext()
    return _setting(TIMEOUT, UPLOAD_TIMEOUT_S)


def request_error(exc: BaseException | None) -> requests.RequestException | None:
    """The requests error in ``exc``'s chain (MLflow raises its own in requests' handler)."""
    while exc is not None and not isinstance(exc, requests.RequestException):
        exc = exc.__cause__ or exc.__context__
    return exc


def timed_out(exc: BaseException | None) -> str | None:
    """How a request of ``exc`` timed out (a ``TIMED_OUT`` key), ``None`` if none did."""
    return _timeout_of(exc)[0]


def seconds_waited(exc: BaseException | None) -> str:
    """The seconds the timed-out request of ``exc`` waited: urllib3 names them ("read timeout=30");
    the setting may have changed since (``uploading``)."""
    said = re.search(r"timeout=([\d.]+)", str(_timeout_of(exc)[1]))
    return said.group(1) if said else os.environ.get(TIMEOUT, UPLOAD_TIMEOUT_S)


def _timeout_of(exc: BaseException | None) -> tuple[str | None, BaseException | None]:
    """The kind and urllib3 error of a timeout in ``exc``'s chain. With retries, urllib3's timeout
    reaches requests (and MLflow) as a ConnectionError naming it."""
    exc = request_error(exc)
    if exc is None or not exc.args:
        return None, None
    reason = getattr(exc.args[0], "reason", exc.args[0])  # urllib3's MaxRetryError names it
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return "connect", reason  # urllib3's refused connection is a ConnectTimeoutError too
    if isinstance(reason, ReadTimeoutError):
        return "read", reason
    return None, None


TIMED_OUT = {  # why the server may have timed out so (what it did: ``mlapp.errors.SILENCES``)
    "connect": "a firewall dropping packets, or a host that is down",
    "read": "is it stuck? its log may say",
}


def waited(uri: str, kind: str, seconds: str, what: str) -> str:
    """A timed-out request (``timed_out``'s ``kind``) in one line, with the setting that waits longer."""
    return (
        f"{unanswered(f'MLflow tracking server {uri}', kind, seconds)} {what} ({TIMED_OUT[kind]}); "
        f"to wait longer, set {TIMEOUT} (seconds) higher"
    )
