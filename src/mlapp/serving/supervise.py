"""The server process of ``mlapp serving serve`` and of the image: BentoML's server, with
each worker a fork of this process and a dead worker replaced at once.

BentoML supervises its workers with circus, whose arbiter looks for dead processes on a
timer that BentoML fixes at 10 s. With one worker, a crash (OOM kill, kill -9) left nobody
accepting for up to 10 s before the replacement even began to start. This process runs the
same server through BentoML's public ``bentoml.serve`` (the arbiter on a thread of this
process, so its workers are this process's children) and hands the arbiter's own
reap-and-respawn step to its event loop as soon as the kernel reports a child's exit
(SIGCHLD): no polling, and the 10 s timer stays as the fallback. The replacement is a fork
of this process, which has imported the service already (``fork.py``): it only loads the
model, instead of importing BentoML, pandas, pandera and xgboost again. This process
imports xgboost without scikit-learn (``import_xgboost_without_sklearn``): a faster start.

Each worker also answers the kubelet's probes on ``serving.probe_port`` (``probes.py``): this
process checks the port can be bound and tells the workers the host and the traffic port.

In a container (``BENTOML_CONTAINERIZED``) BentoML itself would not respawn (the server exits
when its last worker is gone and the orchestrator restarts the container); this server
respawns there too. The image runs it on the bento (``--bento``), the source tree on the
service module.
"""

from __future__ import annotations

if __name__ == "__main__":  # before any import: a Ctrl-C while it starts is one line and exit 130
    from mlapp.errors import run_main

    run_main("mlapp.serving.supervise")

import argparse
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlapp.serving import SERVICE
from mlapp.serving.preflight import (
    METRICS_BYTES_PER_WORKER,
    check_port,
    check_servable,
    space_problem,
    state_problems,
)

START_TIMEOUT_S = 120.0  # the arbiter's thread must be running by then
RETRY_S = 0.1  # the arbiter was busy with another command (starting a worker): ask again


def import_xgboost_without_sklearn() -> None:
    """Import xgboost with scikit-learn hidden, in a process that only predicts: this server,
    and the smoke test's commands (``mlapp serving smoke``, ``serve --smoke``), which read the model
    to compare the service's answers with its own.

    xgboost imports scikit-learn (and with it scipy.stats) whenever it is installed, for
    estimator classes none of them uses: about 3 s of CPU, once per server start (the
    workers are forks: they import nothing), 0.4-0.7 s of the smoke test's run. The serving image
    has no scikit-learn; from the full environment, they hide it while xgboost loads. Never in a
    process that may train (``XGBClassifier`` needs scikit-learn's base classes).
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    from mlapp.address_space import XGBOOST_IMPORT_ROOM, ensure_room

    ensure_room(XGBOOST_IMPORT_ROOM, "loading xgboost")  # short of it, scipy's OpenBLAS spins (model.load)
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # import sklearn -> ImportError
    try:
        import xgboost  # noqa: F401
    finally:
        del sys.modules["sklearn"]


def respawn_on_exit(arbiter: Any, metrics: Path, workers: int, temp: Path) -> None:
    """On SIGCHLD, run the arbiter's ``manage_watchers`` (reap, respawn) on its loop, then drop the
    dead worker's live gauges and its temporary folder in ``temp`` (``reaped.py``); when the metrics
    folder is full, say so (that is why every replacement dies)."""
    from circus.exc import ConflictError

    from mlapp.serving.reaped import forget_dead, forget_dead_temp

    # Created after bentoml.serve: its logging set-up disables every logger that exists then.
    logger = logging.getLogger("mlapp.serving.supervise")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] [supervisor] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # once, not again through a root handler

    def manage() -> None:
        # Stopping (SIGTERM): its workers exit on purpose and circus replaces none (its manage_watchers
        # returns at once then); asking would log a replacement per exit, retried while the stop runs.
        if getattr(arbiter, "_stopping", False):
            return
        if arbiter.running:
            logger.info("a server process exited: reaping it and starting its replacement now")
            if problem := space_problem(metrics, workers * METRICS_BYTES_PER_WORKER, "TMPDIR"):
                logger.error("the Prometheus metrics folder %s: its workers die writing metrics", problem)
        try:
            arbiter.manage_watchers()
        except ConflictError:  # one command at a time: retry once the current one is done
            arbiter.loop.call_later(RETRY_S, manage)
            return
        try:  # reaped now: its in-flight gauge and its per-pid series must leave /metrics (reaped.py)
            forget_dead(metrics)
            forget_dead_temp(temp)
        except OSError as exc:
            logger.error("could not remove a dead server process's files (%s, %s): %s", metrics, temp, exc)

    def on_child_exit(_signum: int, _frame: Any) -> None:
        loop = arbiter.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is shutting down
                loop.add_callback(manage)

    signal.signal(signal.SIGCHLD, on_child_exit)


def own_metrics_folder() -> str:
    """A Prometheus multiprocess folder for this server alone, removed when it stops.

    BentoML's default is one folder per user (``$BENTOML_HOME/prometheus_multiproc_dir``),
    emptied whenever a server starts: a second server of the same user (another checkout,
    another port) would delete this one's metrics files and put its own series into this
    one's /metrics. BentoML reads the folder from its configuration container (set as its
    own pytest plugin does); the workers inherit it as ``PROMETHEUS_MULTIPROC_DIR``.
    """
    from bentoml._internal.configuration.containers import BentoMLContainer

    folder = tempfile.mkdtemp(prefix="mlapp-metrics-")
    BentoMLContainer.prometheus_multiproc_dir.set(folder)
    return folder


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--probe-port", type=int, help="the probes' port [default: serving.probe_port]")
    parser.add_argument(
        "--bento", help="a built bento's folder (the image's); default: the source tree's service"
    )
    return parser.parse_args(argv)


def _prepare(args: argparse.Namespace) -> int:
    """Every check that can fail before a worker starts, each a ``UserError`` naming the setting or
    the fix; then the workers' environment and xgboost imported. The number of workers."""
    from mlapp.errors import UserError
    from mlapp.serving import PROBE_HOST_ENV, PROBE_PORT_ENV, TRAFFIC_PORT_ENV, settings
    from mlapp.serving.pod_memory import memory_problem

    # A bento's files are under its src/, where BentoML serves it from (build/serving.json is there).
    loaded = settings.load(root=Path(args.bento) / "src" if args.bento else None)
    probe_port = args.probe_port or loaded.serving.probe_port
    _check_addresses(
        args.host, args.port, probe_port, "--probe-port" if args.probe_port else "serving.probe_port"
    )
    if problems := state_problems(loaded.workers):
        raise UserError("; ".join(problems))
    if problem := memory_problem(loaded):  # the pod's limit below what a flood would make it hold
        raise UserError(problem)
    # The workers (their environment copies this one) bind the probe port, read the traffic port's queue.
    os.environ |= {
        PROBE_HOST_ENV: args.host,
        PROBE_PORT_ENV: str(probe_port),
        TRAFFIC_PORT_ENV: str(args.port),
    }
    # Too little room under `ulimit -v` is a UserError: xgboost's import spun at 100% CPU (350000 KiB).
    import_xgboost_without_sklearn()
    if not args.bento:  # a bento was built from a model (the image); the source tree may lack one
        from mlapp.serving.records import SchemaNotServable

        try:
            check_servable()
        except (FileNotFoundError, SchemaNotServable) as exc:
            raise UserError(str(exc)) from None
    return loaded.workers


def _check_addresses(host: str, port: int, probe_port: int, probes_at: str) -> None:
    """``UserError`` for a host that is no IP address, or a port this server cannot listen on."""
    from mlapp.errors import UserError

    if probe_port == port:
        raise UserError(f"{probes_at} is the traffic port ({port}): give the probes another")
    try:  # BentoML takes an address only: a name ("localhost") was its traceback
        ipaddress.ip_address(host)
    except ValueError:
        raise UserError(f"--host {host!r} is not an IP address (127.0.0.1, 0.0.0.0, ::1)") from None
    for at, shared, what in ((port, False, ""), (probe_port, True, f" ({probes_at})")):
        try:
            check_port(host, at, shared)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{at}{what}: {exc.strerror or exc}") from None


def _serve(args: argparse.Namespace, workers: int) -> bool:
    """Run the server until it stops; whether a Ctrl-C stopped it."""
    import bentoml

    from mlapp.errors import signals_noted
    from mlapp.serving.drain import refuse_new_connections_on_stop, stop_on_hangup
    from mlapp.serving.fork import fork_workers

    temp = tempfile.mkdtemp(prefix="mlapp-workers-")  # each worker's temporary folder in it (fork.py)
    fork_workers(Path(temp))
    metrics = own_metrics_folder()
    target, folder = (args.bento, args.bento) if args.bento else (SERVICE, ".")
    try:
        server = bentoml.serve(target, host=args.host, port=args.port, working_dir=folder, blocking=False)
        respawn_on_exit(server.arbiter, Path(metrics), workers, Path(temp))
        refuse_new_connections_on_stop(server.arbiter)  # drain.py
        stop_on_hangup()  # SIGHUP stops the server as SIGTERM does (circus took it as "reload")
        interrupts = signals_noted(signal.SIGINT)  # circus's handler stops the server; the exit says Ctrl-C
        _wait_started(server, interrupts)
        # circus's own SIGTERM/SIGINT handlers (installed on this thread) stop the arbiter.
        while server.running:
            time.sleep(0.2)
    finally:  # workers never get here: they leave through os._exit (fork.py)
        shutil.rmtree(metrics, ignore_errors=True)
        shutil.rmtree(temp, ignore_errors=True)
    return bool(interrupts)


def _wait_started(server: Any, interrupts: list[int]) -> None:
    """The arbiter's thread starts its loop, then its watchers (a Ctrl-C meanwhile: stopping)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.running and not interrupts:
        if time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"the server did not start within {START_TIMEOUT_S:g} s")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    # BentoML's usage tracking would start a thread in this process that reads BentoML's
    # metrics client every 12 h: a worker forked after that would inherit a client bound to
    # this pid, which fails in the worker.
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    from mlapp.errors import UserError, interrupted

    try:
        workers = _prepare(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if _serve(args, workers):  # stopped by Ctrl-C, as every command is: one line and exit 130, not a quiet 0
        interrupted()
    return 0
