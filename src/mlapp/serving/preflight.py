"""What the server process checks before it starts BentoML's server (``supervise.py``): the
folders it writes, the ports it binds, the model it serves. Each failed check is one line naming
the fix; found later, in a worker, each would have been a crash loop or a traceback on the
arbiter's thread.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path

# Free space each worker needs in the metrics folder: it maps 4-5 files of 64 KiB (prometheus_client's
# multiprocess mode; ~72 KiB of them written after a flood of every kind of answer), doubling as series
# grow. A write to such a mapping on a full filesystem is a SIGBUS: the worker dies, and so does each
# replacement, while the server process keeps running and serves nothing.
METRICS_BYTES_PER_WORKER = 1 << 20


def space_problem(folder: Path, need: int, variable: str) -> str | None:
    """Why ``folder`` cannot hold a server's state (not writable, under ``need`` bytes free), naming
    the environment variable that moves it; None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        where = f"{folder} (${variable}) is not writable ({exc.strerror or exc})"
        return f"{where}: mount a writable volume there or set ${variable}"
    if free < need:
        where = f"{folder} (${variable}) has {free} bytes free, under the {need} the server needs"
        return f"{where}: free space or set ${variable}"
    return None


def state_problems(workers: int, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The folders a server writes while it runs (infra/base mounts an emptyDir on each): BentoML's
    home, and the temporary folder that holds the Prometheus multiprocess files."""
    home = Path(environ.get("BENTOML_HOME") or "~/bentoml").expanduser()
    try:
        tmp = Path(tempfile.gettempdir())
    except FileNotFoundError as exc:  # Python tried $TMPDIR, /tmp, /var/tmp, /usr/tmp, the working dir
        return [
            f"no writable temporary folder ({exc.strerror}): mount a writable volume on /tmp or set $TMPDIR"
        ]
    checks = ((home, 0, "BENTOML_HOME"), (tmp, workers * METRICS_BYTES_PER_WORKER, "TMPDIR"))
    return [problem for folder, need, name in checks if (problem := space_problem(folder, need, name))]


def check_port(host: str, port: int, shared: bool = False) -> None:
    """Bind once here: BentoML binds in its arbiter's thread, where a port in use is a traceback
    on that thread while this process waits ``supervise.START_TIMEOUT_S`` for a server that never starts.
    ``shared``: as the workers bind the probe port (``SO_REUSEPORT``, probes.py)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket
        if shared:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind((host, port))


def check_servable() -> None:
    """Load the model and match it with the schema here, once, as each worker will: a worker
    that fails to start is replaced at once (``supervise.respawn_on_exit``), so a missing model or a
    schema edited since training would be a crash loop instead of one clear error."""
    from mlapp.model import load
    from mlapp.schema import FEATURES
    from mlapp.serving import settings
    from mlapp.serving.records import check_compatible

    check_compatible(FEATURES, load(settings.load().model_dir).spec)
