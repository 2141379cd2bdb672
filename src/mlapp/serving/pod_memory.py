"""Whether the container's memory limit holds what the service admits, checked as the server starts.

A worker admits request bodies up to ``serving.max_body_bytes_in_flight`` and their rows up to
its share of ``serving.max_concurrency`` (BentoML's ``ceil(max_concurrency / workers)`` slots,
each of ``max_rows``). Under a flood it holds all of that: a pod whose limit is below the sum has
its workers OOM-killed, one after another, however well the admission limits work (256 MiB and
4 workers: ~907 MiB admitted). The server refuses to start instead, naming the numbers: in a
rollout the new pods never become ready and the old ones keep serving, where a pod that started
would be killed under the first flood. Below the limit, what is left is the operator's margin;
tests/delivery/test_infra.py asks the shipped overlays for 25% of it.

Measured on the image run as infra/base runs it (`podman run --memory`, 2 workers;
benchmarks/body_burst.py, benchmarks/results/body_burst-*.json): idle, the server takes ~195 MiB.
An admitted 1,000-row request held ~2.6 MiB with its body padded to the cap (0.98 MiB) and
~1.7 MiB as compact JSON (0.36 MiB): ~1.24 MiB for its rows (records, arrays: ~76 bytes a value
of 17 features) plus ~1.4x its bytes. 600 clients at once peaked at 770-807 MiB of 1 GiB with
bodies at the cap before the budget, 480-539 MiB with it; compact bodies (the slots bound them,
not the budget) 614-651 MiB either way. Re-measured 2026-12-04 (docs/serving.md): ~1.9x on an
image whose closed connections were a reference cycle, 1.40-1.56x once they were not
(benchmarks/results/body_burst-*-cycle-fix-*.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mlapp.address_space import MIB
from mlapp.params import ServingParams
from mlapp.schema import FEATURES
from mlapp.serving.admission import BodyCap
from mlapp.serving.settings import CGROUP, Settings

IDLE_BYTES = 200 * MIB
VALUE_BYTES = 80  # per value of a request's rows (max_rows x features), parsed
BODY_COPIES = 1.5  # per byte of a body held
V1_UNLIMITED = 2**62  # cgroup v1 says "no limit" as the largest page-aligned int64 (9223372036854771712)


@dataclass(frozen=True)
class Admitted:
    """What the service holds at the bound: idle, plus per worker its slots' rows and its bodies."""

    workers: int
    rows: float  # per worker, bytes
    bodies: float  # per worker, bytes

    @property
    def total(self) -> float:
        return IDLE_BYTES + self.workers * (self.rows + self.bodies)

    def said(self) -> str:
        return (
            f"~{IDLE_BYTES // MIB} MiB idle + {self.workers} workers x ({self.rows / MIB:.0f} MiB of rows + "
            f"{self.bodies / MIB:.0f} MiB of bodies) = {self.total / MIB:.0f} MiB"
        )


def admitted(serving: ServingParams, workers: int, cap: BodyCap, features: int, budget: int) -> Admitted:
    """At most ``ceil(max_concurrency / workers)`` requests a worker, each of ``cap.max_rows`` rows of
    ``features`` values, and ``budget`` body bytes (never more than those requests' bodies at the cap)."""
    slots = math.ceil(serving.max_concurrency / workers)
    rows = slots * cap.max_rows * features * VALUE_BYTES
    return Admitted(workers, rows, min(budget, slots * cap.limit) * BODY_COPIES)


def memory_limit(cgroup: Path) -> int | None:
    """Bytes the cgroup may use: v2 ``memory.max``, else v1 ``memory/memory.limit_in_bytes``; None
    without a limit or a cgroup file (a host, not a container, where ``cgroup`` is the root)."""
    for path in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            return None
        return None if value >= V1_UNLIMITED else value
    return None


def memory_problem(loaded: Settings, cgroup: Path = CGROUP) -> str | None:
    """Why the server must not start in ``cgroup`` (the container's own, as it sees it), or None
    when its memory limit holds what ``loaded`` admits, or there is no limit."""
    cap, budget = loaded.body_cap, loaded.body_budget.limit
    bound = admitted(loaded.serving, loaded.workers, cap, len(FEATURES), budget)
    if (limit := memory_limit(cgroup)) is None or bound.total <= limit:
        return None
    return (
        f"the container's memory limit ({limit / MIB:.0f} MiB, read from {cgroup}) is below what the "
        f"service admits under load: {bound.said()}; a flood of requests would get the workers "
        f"OOM-killed: raise the limit to {bound.total / MIB:.0f} MiB or more (the pod's "
        "resources.limits.memory), or lower serving.workers (auto: the CPU limit rounded up), "
        "serving.max_body_bytes_in_flight or serving.max_concurrency in params.yaml and build a new image"
    )
