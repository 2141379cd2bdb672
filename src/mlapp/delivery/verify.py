"""Wait for reality: the environment serves the recorded model before anything is verified.

Writing the deploy branch only states a wish; the controller (or push mode's apply) makes it
true some time later. ``wait_serving`` polls the service's ``/readyz`` + ``/metadata`` until it
reports the model version of the release, with a deadline; on timeout the message says what
still differs, and what Argo CD reports about the Application when kubectl can reach it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

import httpx

from mlapp import proc
from mlapp.delivery.state import StateError


def served_version(url: str) -> tuple[str | None, str]:
    """(model version the service reports, what was seen) — version None while not ready."""
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            ready = http.get("/readyz")
            if ready.status_code != 200:
                return None, f"/readyz answers {ready.status_code}"
            version = http.post("/metadata", json={}).json().get("model_version")
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"not reachable ({type(exc).__name__}: {exc})"
    return version, f"serves model {version}"


def argocd_status(app: str, namespace: str, env: Mapping[str, str] | None) -> str:
    """Sync and health of the Argo CD Application, or why they are unknown."""
    argv = ["kubectl", "get", "applications.argoproj.io", app, "-n", namespace, "-o", "json"]
    done = proc.run(argv, env=env, check=False, timeout=30)
    if done.returncode != 0:
        return f"Argo CD Application {namespace}/{app}: unknown (kubectl exit {done.returncode})"
    status = json.loads(done.stdout).get("status", {})
    sync, health = status.get("sync", {}), status.get("health", {})
    return (
        f"Argo CD Application {namespace}/{app}: sync {sync.get('status', '?')} at "
        f"{str(sync.get('revision', '?'))[:12]}, health {health.get('status', '?')}"
        + (f" ({health['message']})" if health.get("message") else "")
    )


def wait_serving(
    url: str,
    version: str,
    timeout_s: float,
    poll_s: float,
    echo: Callable[[str], None],
    status: Callable[[], str] | None = None,
) -> None:
    """Return once ``url`` serves model ``version``; raise with what is out of sync at the deadline."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        served, seen = served_version(url)
        if served == version:
            echo(f"ok   {url} serves model {version}")
            return
        if seen != last:
            echo(f"wait {url}: {seen}, want model {version}")
            last = seen
        if time.monotonic() >= deadline:
            extra = f"; {status()}" if status else ""
            raise StateError(f"after {timeout_s:g}s {url} still {seen}, not model {version}{extra}")
        time.sleep(poll_s)
