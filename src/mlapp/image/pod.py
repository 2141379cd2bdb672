"""What the cluster gives the serving container (infra/base's Deployment), so that `make image`
runs the image under the same limits and stops it the way the kubelet does.

The Deployment is the one place for the container's memory and CPU limits and its termination
grace period: `make image` reads them from there. Under the memory limit a flood must not get
the container OOM-killed; the CPU limit sets ``serving.workers: auto``; and on SIGTERM (a
rollout, a scale-in) a request in flight is answered and the server exits 0 within the grace
period, else the kubelet kills it and the client's request is lost.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from mlapp.errors import UserError
from mlapp.image.engine import Engine

DEPLOYMENT = Path("base/deployment.yaml")  # under delivery.infra_dir
CONTAINER = "api"
# Kubernetes quantity suffixes (binary and decimal); CPU also takes "m" (milli-cores).
SUFFIXES = {
    **{"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40},
    **{"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3},
}
QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")


def quantity(text: str | int | float) -> float:
    """A Kubernetes resource quantity ("1Gi", "500m", "2") as a number."""
    found = QUANTITY.match(str(text).strip())
    if not found:
        raise UserError(f"{text!r} is not a Kubernetes quantity this reads (e.g. 1Gi, 512Mi, 500m, 2)")
    return float(found[1]) * SUFFIXES.get(found[2] or "", 1)


@dataclass(frozen=True)
class PodLimits:
    memory_bytes: int
    cpus: float
    grace_s: float  # terminationGracePeriodSeconds less the preStop sleep: the server's, after SIGTERM

    def run_options(self) -> tuple[str, ...]:
        # Swap as large as the memory: none, as on a kubelet (swap off), so the limit is what OOM-kills.
        memory = str(self.memory_bytes)
        return ("--memory", memory, "--memory-swap", memory, "--cpus", f"{self.cpus:g}")


def read_limits(deployment: Path) -> PodLimits:
    """The serving container's limits and the pod's grace period, from the Deployment's YAML."""
    try:
        pod = yaml.safe_load(deployment.read_text())["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == CONTAINER)
        limits = container["resources"]["limits"]
        # The kubelet runs the preStop hook first, within the grace period, then sends SIGTERM.
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        return PodLimits(
            memory_bytes=int(quantity(limits["memory"])),
            cpus=quantity(limits["cpu"]),
            grace_s=float(pod.get("terminationGracePeriodSeconds", 30)) - pre_stop,  # 30: Kubernetes' default
        )
    except (OSError, KeyError, TypeError, StopIteration) as exc:
        raise UserError(
            f"{deployment}: cannot read the {CONTAINER!r} container's resources.limits.memory/cpu "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def answer_in_flight_across(
    http: httpx.Client, body: bytes, signal: Callable[[], None], timeout_s: float
) -> httpx.Response:
    """POST ``body`` to /predict in two parts, calling ``signal`` (SIGTERM) between them: the
    request is in flight, its headers and half its body received, when the server is told to stop."""
    half = len(body) // 2
    sent, signalled, over = threading.Event(), threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def parts() -> Iterator[bytes]:
        yield body[:half]
        sent.set()  # httpx asks for the next part once the first is written
        signalled.wait(timeout_s)
        yield body[half:]

    def send_signal() -> None:
        if sent.wait(timeout_s) and not over.is_set():
            try:
                signal()
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
        signalled.set()

    sender = threading.Thread(target=send_signal, daemon=True)
    sender.start()
    try:
        response = http.post("/predict", content=parts(), headers={"content-type": "application/json"})
    finally:  # a request that failed before its first part was sent is not signalled here
        over.set()
        sent.set()
        signalled.set()
        sender.join(timeout_s)
    if failure:
        raise failure[0]
    return response


@dataclass(frozen=True)
class Stopped:
    status: int | str  # the in-flight request's answer (or the transport error's name)
    exit_code: int | None  # None: still running
    oom_killed: bool
    seconds: float  # SIGTERM to exit

    def problems(self, grace_s: float) -> list[str]:
        found = [] if self.status == 200 else [f"the request in flight got {self.status}, not 200"]
        if self.exit_code is None or self.seconds > grace_s:
            found.append(
                f"still running {grace_s:g} s after SIGTERM (the grace period after the preStop sleep)"
            )
        elif self.exit_code != 0:
            found.append(f"exit code {self.exit_code}, not 0")
        if self.oom_killed:
            found.append("OOM-killed")
        return found


def stop_gracefully(http: httpx.Client, body: bytes, engine: Engine, name: str, grace_s: float) -> Stopped:
    """SIGTERM the container ``name`` while a request is in flight; how the request and the exit went."""
    started = [0.0]

    def signal() -> None:
        started[0] = time.monotonic()
        engine.signal(name, "TERM")

    try:
        status: int | str = answer_in_flight_across(http, body, signal, grace_s).status_code
    except httpx.TransportError as exc:
        status = type(exc).__name__
    if not started[0]:  # the request never got in flight: stop the container all the same
        signal()
    exit_code = engine.wait(name, grace_s)
    seconds = time.monotonic() - started[0] if exit_code is not None else float("inf")
    return Stopped(status, exit_code, engine.oom_killed(name), seconds)
