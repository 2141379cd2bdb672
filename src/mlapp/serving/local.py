"""The model served locally, checked over HTTP, stopped: the last step of ``make run``.

The server is the one ``make serve`` runs (``service_command``: BentoML's, from the source
tree), on a free port of 127.0.0.1 unless the caller names a port or interface. Its prediction
log goes to a temporary folder: the smoke test's records are not traffic, and the monitor reads
that log as recent data.

The server runs in a session of its own, which the terminal's SIGHUP does not reach: this process
turns a SIGHUP (the terminal that runs ``make run`` closed) or a SIGTERM (``timeout``, ``kill``, a
cancelled CI job) into an exit that stops the server first (``_exit_stopping``); it died of
either, and the server served on, on its free port, with nobody to stop it. Any of them or Ctrl-C
while ``Popen`` starts the server waits until it can be stopped.

``free_port(s)`` and ``ready_after`` serve every server started here (this one, ``make image``'s
container, the tests'): readiness is ``smoke.wait_ready``'s, with the server's log on failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import httpx

from mlapp.errors import UserError
from mlapp.params import Params
from mlapp.serving import PREDICTION_LOG_ENV, service_command, smoke
from mlapp.serving.preflight import check_port
from mlapp.swap import signals_held

# Where the smoke test reaches a server bound to every interface: its loopback address.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - names, not a bind
STOP_S = 30.0  # SIGTERM to exit: the workers finish what is in flight (none here) and clean up
LOG_TAIL = 4000  # characters of the server's log shown when it fails
EXITS = (signal.SIGHUP, signal.SIGTERM)  # each an exit through the server's stop (_exit_stopping)
HELD = (*EXITS, signal.SIGINT)  # while Popen starts the server: each then exits through its stop


# Every port ``free_ports`` picked, bound until this process exits (closed then by the OS).
_HELD: list[socket.socket] = []


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on, kept for this process's servers (``free_ports``)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different ports of 127.0.0.1 for servers this process starts, each kept bound until
    the process exits. A port picked and released at once (bind to 0, close) was anybody's until
    the server bound it, seconds later: another process's pick or an outgoing connection's local
    port could take it, and the server failed to start. A socket bound with ``SO_REUSEADDR`` that
    never listens keeps the port out of the kernel's picks (bind to 0, connect) while a server told
    the port binds it with ``SO_REUSEADDR`` (BentoML's, uvicorn's, ``check_port``, a container
    engine's forward) and listens; with nothing listening, connections to it are refused. Held
    together: two ports of one call always differ (a server refuses one as traffic and probe port)."""
    socks = [socket.socket() for _ in range(count)]
    _HELD.extend(socks)
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    return [int(sock.getsockname()[1]) for sock in socks]


def ready_after(
    url: str, timeout_s: float, gone: Callable[[], str | None], logs: Callable[[], str], poll_s: float = 0.2
) -> float:
    """Seconds until a server started here is ready (``smoke.wait_ready``). ``gone()`` says how it
    ended (None while it runs): a server that died fails at once, with ``logs()``, not at the deadline.
    A plain client of 2 s requests: gone() is asked between them, so a death is seen within 2 s."""
    with httpx.Client(base_url=url, timeout=2.0) as http:
        try:
            return smoke.wait_ready(http, timeout_s, poll_s, gone)
        except smoke.SmokeFailure as exc:
            raise UserError(f"{exc}:\n{logs()}") from exc


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-LOG_TAIL:]


def _ended(server: subprocess.Popen[bytes]) -> str | None:
    return None if server.poll() is None else f"the local server exited ({server.returncode})"


def _stop(server: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, as ``make serve`` is stopped with Ctrl-C or a pod by the kubelet: its exit code, None
    if it outlived ``STOP_S``. The group is killed afterwards either way: no worker outlives the check."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        code: int | None = server.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        code = None
    with contextlib.suppress(ProcessLookupError):  # the group is gone: all of it exited
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    return code


def _exit_stopping(signum: int, _frame: Any) -> NoReturn:
    """SIGHUP, SIGTERM: leave through the server's stop (``serve_and_smoke``), exit 128 + the
    signal's number, as a shell reports it."""
    raise SystemExit(128 + signum)


def local_url(host: str, port: int) -> str:
    """The URL the smoke test sends to for a server listening on ``host``:``port``."""
    where = LOOPBACK.get(host, host)
    return f"http://[{where}]:{port}" if ":" in where else f"http://{where}:{port}"


def serve_and_smoke(
    params_path: Path,
    params: Params,
    model_dir: Path,
    echo: Callable[[str], None],
    *,
    port: int | None,  # None: a free port (make run must not collide with a running make serve)
    host: str,
    probe_port: int | None = None,  # None: a free one, for the same reason (nobody probes this server)
) -> None:
    """Start the service on ``host``:``port``, wait until ready, smoke-test it, stop it."""
    if probe_port is None:  # serving.probe_port is make serve's: shared (SO_REUSEPORT), either would answer
        probe_port = free_port()
    if port is None:
        port = free_port()
    else:  # a server already there (`make serve`) would pass the readiness poll and the smoke test
        try:
            check_port(host, port)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    url = local_url(host, port)
    for number in EXITS:
        signal.signal(number, _exit_stopping)
    with tempfile.TemporaryDirectory(prefix="mlapp-serve-") as tmp:
        argv, env = service_command(
            params_path, port=port, host=host, model_dir=model_dir, probe_port=probe_port
        )
        env[PREDICTION_LOG_ENV] = str(Path(tmp) / "predictions.jsonl")
        log = Path(tmp) / "server.log"
        server: subprocess.Popen[bytes] | None = None
        try:
            # A signal inside Popen (the child started, Popen not returned) left a server nobody
            # stops: held until it is ``server``, then raised (SystemExit, KeyboardInterrupt).
            with signals_held(HELD), log.open("wb") as out:
                # A session of its own: the stop can reach the workers BentoML forks, whatever happens.
                server = subprocess.Popen(
                    argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            timeout_s = params.image.ready_timeout_s
            ready_s = ready_after(url, timeout_s, lambda: _ended(server), lambda: _tail(log))
            echo(f"ready after {ready_s:.1f} s: {url} (BentoML, {model_dir}/)")
            try:
                smoke.run(url, model_dir, timeout_s=30.0, echo=echo)
            except smoke.SmokeFailure as exc:
                raise UserError(f"smoke test failed against the local server: {exc}\n{_tail(log)}") from exc
        except BaseException:
            if server is not None:
                _stop(server)  # the failure above is the one to report
            raise
        if (code := _stop(server)) != 0:
            ended_as = f"exit {code}" if code is not None else f"still running after {STOP_S:g} s"
            raise UserError(f"the local server did not stop cleanly on SIGTERM ({ended_as}):\n{_tail(log)}")
    echo(f"ok   stopped on SIGTERM (exit 0); `make serve` keeps it up on port {params.serving.port}")
