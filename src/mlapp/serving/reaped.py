"""A dead worker's per-process gauges leave ``/metrics`` with it.

prometheus_client's multiprocess mode keeps each worker's values in files of the server's
metrics folder named after its pid (``counter_<pid>.db``, ``gauge_livesum_<pid>.db``, ...), and
``/metrics`` reads every file there. The ``live*`` gauges are meant to count live processes
only: their files must be removed when a process dies (``multiprocess.mark_process_dead``),
which nothing did for a worker that was killed (kill -9, the OOM killer): BentoML's
``bentoml_service_request_in_progress{endpoint="/predict"}`` (the dashboard's in-flight panel)
stayed at the 32 requests a killed worker had in flight, for the life of the server. The
``all`` gauges (BentoML's ``bentoml_service_last_request_timestamp_seconds``) are a series per
pid: each replaced worker left one more, stale, series.

The server process calls ``forget_dead`` after each reap (supervise.py). Counters and
histograms of dead workers stay: their counts are part of the totals, which must not go down.

And ``forget_dead_temp`` removes a dead worker's temporary folder (``fork.own_temp_folder``): a
killed worker left its ``bentoml-client-*`` folder in ``TMPDIR``, one per lifetime, for good
(in a pod, its ``/tmp`` volume).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import psutil

PID_FILE = re.compile(r"_(\d+)\.db$")
PER_PROCESS = "gauge_all_{pid}.db"  # a series labelled with the pid: stale once that process is gone


def forget_dead(folder: Path, is_alive: Callable[[int], bool] = psutil.pid_exists) -> list[int]:
    """Remove the live and per-process gauge files of every process of ``folder`` that is gone;
    the pids found gone."""
    from prometheus_client import multiprocess  # the server process has it (BentoML's dependency)

    pids = {int(m.group(1)) for path in folder.glob("*.db") if (m := PID_FILE.search(path.name))}
    dead = sorted(pid for pid in pids if not is_alive(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(folder))
        (folder / PER_PROCESS.format(pid=pid)).unlink(missing_ok=True)
    return dead


def forget_dead_temp(root: Path, is_alive: Callable[[int], bool] = psutil.pid_exists) -> list[int]:
    """Remove the temporary folder (``root``/<pid>) of every worker that is gone; their pids."""
    dead = sorted(
        int(path.name) for path in root.iterdir() if path.name.isdigit() and not is_alive(int(path.name))
    )
    for pid in dead:
        shutil.rmtree(root / str(pid), ignore_errors=True)
    return dead
