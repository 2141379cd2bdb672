"""BentoML's workers as forks of the server process, which has already imported the service.

A worker that circus starts the usual way (``python -m _bentoml_impl.worker.service``) starts
Python and imports BentoML, pandas, pandera, xgboost and the service module before it can answer:
seconds of CPU, which is how long a one-worker server is down after its worker dies. The
server process (``supervise.py``) has imported all of that already, to read the service's
configuration. Here circus's process for that command is a ``fork()`` of the server process
that runs the same worker ``main`` with the same arguments, environment and working folder:
the listening socket is the same inherited file descriptor (``--fd``), circus supervises,
signals and reaps it as before, and it only has to load the model and start uvicorn.

Fork safety: the fork happens on the arbiter's thread; the child keeps only that thread and
runs nothing of the parent's but the worker. asyncio and pyzmq check the pid (the parent's
event loop and ZeroMQ sockets are inert in the child), ``threading`` and ``logging`` reset
their locks after a fork, the parent's signal handlers are reset, and the child leaves with
``os._exit`` so none of the parent's exit handlers run. On Linux the kernel sends a worker
SIGTERM when the server process dies (``die_with_parent``): a server killed with SIGKILL left its
workers serving, and holding the port, as orphans. What a new worker would decide after
its own set-up is redone for the fork: prometheus_client's choice of multiprocess files
(``fresh_prometheus_values``) and the service's loggers, which BentoML's worker logging set-up
would disable (``keep_loggers_enabled``). Any other command (none today) is started the usual way.

Each worker keeps its temporary files in a folder of its own, named after its pid, in the server
process's ``temp_root`` (``own_temp_folder``): BentoML's worker makes a ``bentoml-client-*``
folder (the client of its service to itself, which a stop removes), and a worker that was killed
(kill -9, the OOM killer) left it behind, one per lifetime. The server process removes a dead
worker's folder when it reaps it (``reaped.forget_dead_temp``), and the whole root when it stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

import psutil
from circus.process import Process
from circus.watcher import Watcher

WORKER_MODULE = "_bentoml_impl.worker.service"  # what BentoML 1.4's watchers run
BENTOML_PACKAGES = {"bentoml", "_bentoml_impl", "_bentoml_sdk"}
PR_SET_PDEATHSIG = 1  # linux/prctl.h
OOM_SCORE_ADJ_MAX = 1000  # linux/oom.h: killed first when memory runs out
temp_root: Path | None = None  # the server process's folder of the workers' temporary folders (fork_workers)


class ForkedWorker(psutil.Process):
    """The part of ``psutil.Popen`` circus uses, for a child started by ``os.fork``."""

    stdout = None  # BentoML's watchers do not pipe the workers' output: it is inherited
    stderr = None
    returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # already reaped by the arbiter: dead, status unknown
                self.returncode = 0  # what subprocess.Popen.poll reports in that case
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class ForkedProcess(Process):
    def spawn(self) -> None:
        if list(self.args or [])[:2] != ["-m", WORKER_MODULE] or self.uid or self.gid or self.rlimits:
            super().spawn()
            return
        self.started = time.time()
        argv = self.format_args(sockets_fds=self._get_sockets_fds())
        for stream in (sys.stdout, sys.stderr):  # or the child writes this process's buffer again
            stream.flush()
        # No signal reaches the child before it has reset this process's handlers.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        parent = os.getpid()
        try:
            pid = os.fork()
            if pid == 0:
                die_with_parent(parent)
                run_worker(argv[3:], self.env, self.working_dir, self.close_child_stdin, mask)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self._sockets: list[Any] = []
        self._worker = ForkedWorker(pid)


class ForkingWatcher(Watcher):
    @property
    def _process_class(self) -> type[Process]:
        return ForkedProcess


def die_with_parent(parent: int) -> None:
    """In the forked child: SIGTERM when ``parent`` dies (Linux's ``PR_SET_PDEATHSIG``), as circus
    stops a worker (it finishes what is in flight); at once if it died before the request. Only
    the forking thread's exit counts: the arbiter's, which outlives its workers. Elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0 and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)  # pending until run_worker unblocks: it never starts


def run_worker(
    argv: list[str], env: dict[str, str], working_dir: str, close_stdin: bool, mask: set[int | signal.Signals]
) -> NoReturn:
    """In the forked child: BentoML's worker ``main`` with ``argv``; never returns."""
    code = 1
    try:
        os.setsid()  # as circus does for its workers: a signal to the server's group is not theirs
        killed_first()
        if close_stdin:
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
        for sig in signal.valid_signals():  # the supervisor's handlers (SIGCHLD, circus's) are not ours
            handler = signal.getsignal(sig)
            if callable(handler) and handler is not signal.default_int_handler:
                signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.environ.clear()
        os.environ.update(env)
        own_temp_folder()
        os.chdir(working_dir)
        fresh_prometheus_values()
        keep_loggers_enabled()
        from _bentoml_impl.worker.service import main

        main.main(args=argv, prog_name=WORKER_MODULE, standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def killed_first() -> None:
    """In the forked child: out of memory, the kernel kills a worker, which the server process
    replaces, rather than the server process. That one has the largest RSS (what its workers
    share counts in it too): under `podman run --memory 300m` a flood of 1000-row requests had it
    killed, and every worker and the container with it (exit 137). Raising one's own score needs
    no privilege; a kernel without the file (not Linux) keeps its choice."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text(f"{OOM_SCORE_ADJ_MAX}\n")


def own_temp_folder() -> None:
    """In the forked child: temporary files in ``temp_root``/<pid> (module docstring)."""
    if temp_root is not None:
        folder = temp_root / str(os.getpid())
        folder.mkdir()
        os.environ["TMPDIR"] = tempfile.tempdir = str(folder)  # tempfile caches its choice: set both


def fresh_prometheus_values() -> None:
    """prometheus_client picks its value class (in-memory or multiprocess files) when imported:
    if the parent imported it, pick again with the worker's ``PROMETHEUS_MULTIPROC_DIR``."""
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None:
        values.ValueClass = values.get_value_class()


def keep_loggers_enabled() -> None:
    """The worker's logging set-up (``dictConfig``) disables every logger that exists then. A
    worker that imports the service afterwards has the service's loggers enabled; a fork has
    them already: keep those (all but BentoML's own) as they were."""
    import bentoml._internal.log as bentoml_log  # the worker's main looks it up when it runs

    configure = bentoml_log.configure_server_logging

    def configure_server_logging() -> None:
        loggers = logging.Logger.manager.loggerDict.values()
        keep = [log for log in loggers if isinstance(log, logging.Logger) and not log.disabled]
        configure()
        for log in keep:
            if log.name.split(".")[0] not in BENTOML_PACKAGES:
                log.disabled = False

    bentoml_log.configure_server_logging = configure_server_logging


def fork_workers(temp: Path) -> None:
    """From now on, BentoML's watchers start their workers as forks of this process, each with its
    temporary files in a folder of ``temp``, and replace a dead worker even in a container (where
    BentoML leaves that to the orchestrator)."""
    global temp_root
    import bentoml.serving

    temp_root = temp

    create = bentoml.serving.create_watcher

    def create_watcher(*args: Any, **kwargs: Any) -> Watcher:
        watcher = create(*args, **kwargs)
        watcher.__class__ = ForkingWatcher  # same object and settings, only the process class differs
        watcher.respawn = True
        return watcher

    bentoml.serving.create_watcher = create_watcher
