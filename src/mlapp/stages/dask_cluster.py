"""The Dask cluster ``train.engine: dask`` trains on: connected, and failing in one line.

A scheduler at ``train.dask.scheduler`` (``DASK_SCHEDULER_ADDRESS`` wins), or a LocalCluster
here. A scheduler that does not answer, or a cluster that fails while the stage uses it (its
scheduler or a worker stopped), is a ``UserError`` naming the address: the model is saved
only after training returns, so the previous one stays.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from mlapp.errors import UserError
from mlapp.params import DaskParams

if TYPE_CHECKING:
    from distributed import Client


PROBE_TIMEOUT_S = 10.0  # a TCP handshake only: the scheduler's host kernel answers it, however busy


class SchedulerUnavailable(UserError, RuntimeError):
    """The Dask scheduler named by params or the environment does not answer."""


class ClusterLost(UserError, RuntimeError):
    """The scheduler or a worker stopped while the stage used the cluster."""


@contextmanager
def client(params: DaskParams) -> Iterator[Client]:
    """A client of the cluster at the configured address, or of a LocalCluster here."""
    from distributed import Client, LocalCluster
    from distributed.utils import silence_logging_cmgr

    address = params.resolved_scheduler()
    if address:
        try:
            _listening(address, params.connect_timeout_s)
            connected = Client(address, timeout=params.connect_timeout_s)
        # OSError: refused, unknown host, or no answer in time; ValueError: an address Dask has no
        # transport for (http://)
        except (OSError, ValueError) as exc:
            raise SchedulerUnavailable(
                f"Dask scheduler {address} is not reachable ({exc}). Start it, fix "
                "train.dask.scheduler or DASK_SCHEDULER_ADDRESS, or unset both for a local cluster."
            ) from exc
        # Dask logs a lost scheduler's tracebacks (its comm closed, its reconnect given up, from
        # its own thread until the client is closed) before ours; ClusterLost names the failure
        # in one line. LocalCluster's silence_logs is the same knob of Dask's.
        with silence_logging_cmgr(logging.CRITICAL), closed(connected):
            wait = params.connect_timeout_s
            try:  # a scheduler alone (workers not started yet, or failed to) trained nothing
                connected.wait_for_workers(1, timeout=wait)
            except TimeoutError as exc:
                raise SchedulerUnavailable(
                    f"Dask scheduler {address} has no workers (none joined in {wait:g} s): start "
                    f"some (`dask worker {address}`), or unset train.dask.scheduler and "
                    "DASK_SCHEDULER_ADDRESS for a local cluster."
                ) from exc
            with kept(connected, f"at {address}"):
                yield connected
        return
    with (
        LocalCluster(
            n_workers=params.workers,
            threads_per_worker=params.threads_per_worker,
            processes=True,
            dashboard_address=None,  # no dashboard; health/metrics routes still listen on 127.0.0.1
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as local,
        kept(local, "(a LocalCluster on this machine)"),
    ):
        yield local


@contextmanager
def closed(dask: Client) -> Iterator[Client]:
    """``dask``, closed after the block. When the block failed, its error is the one raised: closing
    a client whose scheduler is gone can fail too (Distributed's connection pool may cancel a
    connect timeout that is expiring: "Cannot change state of expiring Timeout")."""
    try:
        yield dask
    except BaseException:
        with suppress(Exception):
            dask.close()
        raise
    dask.close()


def _listening(address: str, wait: float) -> None:
    """Raise ``OSError`` at once for a TCP scheduler address nothing listens on (refused, an unknown
    host), and after ``wait`` s for one that accepts and says nothing. Dask retries a refused
    connection until its connect timeout (``connect_timeout_s``), and never times out its read of
    the scheduler's handshake once connected."""
    from distributed.comm.addressing import get_address_host_port, parse_address

    if (scheme := parse_address(address)[0]) not in ("tcp", "tls"):
        return  # Dask's other transports (and addresses it has none for) are Client's to judge
    with socket.create_connection(get_address_host_port(address), timeout=PROBE_TIMEOUT_S) as probe:
        if scheme == "tcp":  # a TLS server speaks after the client's hello
            _speaking(probe, wait)


def _speaking(probe: socket.socket, wait: float) -> None:
    """A Dask scheduler writes its handshake as it accepts; nothing in ``wait`` s is another program
    on the port, or a scheduler that is stuck (it held the stage for as long as the port was open)."""
    probe.settimeout(wait)
    try:
        probe.recv(1)
    except TimeoutError:
        raise OSError(
            f"it accepted the connection and sent nothing in {wait:g} s (train.dask.connect_timeout_s): "
            "another program on this port, or a scheduler that is stuck"
        ) from None


@contextmanager
def kept(dask: Client, where: str) -> Iterator[None]:
    """``ClusterLost`` instead of the traceback of a cluster that failed under the stage.

    Dask's errors of a lost scheduler (its connection closed: CommClosedError; its reconnect
    given up: a plain OSError) or worker (FutureCancelledError "lost dependencies", KilledWorker)
    say so themselves; any other error (XGBoost's "Missing required workers", its collective's)
    is the cluster's when a worker it started with has left, or the scheduler no longer answers."""
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    started = set(dask.scheduler_info(n_workers=-1)["workers"])
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        lost = type(exc) is OSError or isinstance(exc, CommClosedError | FutureCancelledError | KilledWorker)
        if not lost and not _gone(dask, started):
            raise  # the cluster is whole: not its failure
        raise ClusterLost(
            f"the Dask cluster {where} failed during training ({type(exc).__name__}: {exc}): its "
            "scheduler or a worker stopped, or the connection to it dropped; the previous model is "
            "kept. Check the cluster and run again, or set train.engine: local."
        ) from exc


def _gone(dask: Client, started: set[str]) -> bool:
    """Whether a worker of ``started`` has left the cluster, or its scheduler no longer answers."""
    try:
        now = dask.run_on_scheduler(lambda dask_scheduler: set(dask_scheduler.workers))
    except Exception:  # whatever the reason, the scheduler did not answer
        return True
    return bool(started - now)
