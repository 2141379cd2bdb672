"""`make image` runs the image under infra/base's limits and stops it as the kubelet does.

The real run is `make image` in CI (one build); these tests pin what it reads from the
Deployment and that its SIGTERM check sends the signal while a request is in flight and fails
on a server that does not answer it or does not exit.
"""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from mlapp.errors import UserError
from mlapp.image import pod
from mlapp.image.engine import Engine
from mlapp.params import load_params
from tests.conftest import REPO, answering

PARAMS = load_params(REPO / "params.yaml")
DEPLOYMENT = REPO / PARAMS.delivery.infra_dir / pod.DEPLOYMENT


@pytest.mark.parametrize(
    ("text", "value"), [("1Gi", 2**30), ("512Mi", 2**29), ("500m", 0.5), ("2", 2), ("1.5", 1.5), (3, 3)]
)
def test_kubernetes_quantities(text: str | int, value: float) -> None:
    assert pod.quantity(text) == value


def test_a_quantity_it_cannot_read_names_the_forms_it_reads() -> None:
    with pytest.raises(UserError, match="not a Kubernetes quantity"):
        pod.quantity("1 GB")


def test_the_limits_are_the_deployments() -> None:
    limits = pod.read_limits(DEPLOYMENT)
    assert limits == pod.PodLimits(memory_bytes=2**30, cpus=2.0, grace_s=40.0 - 5)  # grace less preStop sleep
    assert limits.run_options() == ("--memory", str(2**30), "--memory-swap", str(2**30), "--cpus", "2")


def test_a_deployment_without_limits_is_a_clear_error(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(DEPLOYMENT.read_text().replace("memory: 1Gi", "ephemeral-storage: 1Gi"))
    with pytest.raises(UserError, match=r"resources\.limits\.memory/cpu"):
        pod.read_limits(deployment)


def test_the_container_gets_the_limits_and_no_writable_paths_but_its_volumes() -> None:
    options = pod.read_limits(DEPLOYMENT).run_options()
    podman = [str(a) for a in Engine("podman").run_argv("mlapp:1", "c", (), {}, ("/tmp",), options)]
    assert "--read-only-tmpfs=false" in podman  # podman's --read-only alone makes /run, /var/tmp writable
    assert " ".join(options) in " ".join(podman) and podman[-1] == "mlapp:1"
    docker = [str(a) for a in Engine("docker").run_argv("mlapp:1", "c", (), {}, ("/tmp",), options)]
    assert "--read-only" in docker and "--read-only-tmpfs=false" not in docker  # docker's adds none


class Server(http.server.BaseHTTPRequestHandler):
    """Reads a chunked /predict body and answers ``status``; notes when the body was complete."""

    status = 200
    events: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        while size := int(self.rfile.readline().strip() or b"0", 16):
            self.rfile.read(size + 2)
        self.rfile.readline()
        self.events.append("body complete")
        self.send_response(self.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Server.events, Server.status = [], 200
    with answering(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)) as url:
        yield url


class Stopping(Engine):
    """A container that exits with ``exit_code`` (None: never) once signalled."""

    def __init__(self, exit_code: int | None, oom: bool = False) -> None:
        super().__init__("podman")
        object.__setattr__(self, "exit_code", exit_code)
        object.__setattr__(self, "oom", oom)
        object.__setattr__(self, "signals", [])

    def signal(self, name: str, signal: str) -> None:
        self.signals.append(signal)  # type: ignore[attr-defined]
        Server.events.append(f"SIG{signal}")

    def wait(self, name: str, timeout_s: float) -> int | None:
        return self.exit_code  # type: ignore[attr-defined]

    def oom_killed(self, name: str) -> bool:
        return bool(self.oom)  # type: ignore[attr-defined]


def stop(url: str, engine: Engine) -> pod.Stopped:
    with httpx.Client(base_url=url, timeout=10) as http:
        return pod.stop_gracefully(http, b'{"records": []}' * 100, engine, "c", grace_s=30)


def test_sigterm_comes_while_the_request_is_in_flight(server: str) -> None:
    stopped = stop(server, Stopping(exit_code=0))
    assert Server.events == ["SIGTERM", "body complete"]  # signalled before the body was all sent
    assert stopped.status == 200 and stopped.exit_code == 0 and stopped.seconds < float("inf")
    assert stopped.problems(30) == []


def test_a_lost_request_a_failed_exit_or_an_oom_kill_is_a_problem(server: str) -> None:
    Server.status = 503
    assert stop(server, Stopping(exit_code=0)).problems(30) == ["the request in flight got 503, not 200"]
    Server.status = 200
    assert stop(server, Stopping(exit_code=137, oom=True)).problems(30) == [
        "exit code 137, not 0",
        "OOM-killed",
    ]
    assert stop(server, Stopping(exit_code=None)).problems(30) == [
        "still running 30 s after SIGTERM (the grace period after the preStop sleep)"
    ]


def test_a_server_that_is_gone_is_a_problem_not_a_crash() -> None:
    from mlapp.serving.local import free_port

    stopped = stop(f"http://127.0.0.1:{free_port()}", Stopping(exit_code=0))
    assert stopped.status == "ConnectError"
    assert stopped.problems(30) == ["the request in flight got ConnectError, not 200"]
