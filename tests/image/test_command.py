"""`make image`'s logic: engine choice, engine arguments, base choice, build secrets, readiness.

Engines are exercised through stand-in executables on PATH and an engine whose image store
is a set; readiness polls a real HTTP server. The real build + smoke test runs in CI.
"""

from __future__ import annotations

import http.server
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from click.testing import CliRunner

from mlapp import template
from mlapp.errors import UserError
from mlapp.image import base, build
from mlapp.image.engine import Engine, detect
from mlapp.params import load_params
from mlapp.proc import CommandError
from mlapp.serving import local, smoke
from mlapp.serving.local import free_port
from tests.conftest import REPO, answering

PARAMS = load_params(REPO / "params.yaml")


def fake_program(folder: Path, name: str, exit_code: int) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    ("programs", "expected"),
    [
        ({"docker": 0, "podman": 0}, "docker"),  # a docker engine answers: GitHub runners
        ({"docker": 1, "podman": 0}, "podman"),  # a docker client without an engine
        ({"podman": 0}, "podman"),
    ],
)
def test_docker_when_its_engine_answers_else_podman(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, programs: dict[str, int], expected: str
) -> None:
    for name, code in programs.items():
        fake_program(tmp_path, name, code)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect().name == expected


@pytest.mark.parametrize(
    ("programs", "expected"), [({"docker": 0, "podman": 0}, "docker"), ({"podman": 0}, "podman")]
)
def test_make_e2e_uses_the_engine_make_image_built_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, programs: dict[str, int], expected: str
) -> None:
    """`make e2e` pushed with docker whatever the machine had: where `make image` built with podman
    (no docker engine), the push failed for want of docker. Both detect the engine the same way."""
    from mlapp.cli import cli
    from mlapp.delivery import cluster

    for name, code in programs.items():
        fake_program(tmp_path, name, code)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MLAPP_IMAGE_ENGINE", raising=False)
    chosen: dict[str, str] = {}

    def record(command: str) -> Callable[..., None]:
        def stand_in(*args: object, **kwargs: object) -> None:
            engine = kwargs["engine"] if "engine" in kwargs else args[1]  # e2e's by name, image's second
            chosen[command] = detect(str(engine)).name
            raise UserError("stop")  # past the choice: nothing to build or deploy here

        return stand_in

    monkeypatch.setattr(cluster, "e2e", record("e2e"))
    monkeypatch.setattr(build, "build_and_smoke", record("image"))
    CliRunner().invoke(cli, ["--params", str(REPO / "params.yaml"), "delivery", "e2e", "--image", "mlapp:1"])
    CliRunner().invoke(cli, ["--params", str(REPO / "params.yaml"), "serving", "image"])
    assert chosen == {"e2e": expected, "image": expected}


def test_no_engine_at_all_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install podman"):
        detect()


def test_podman_runs_with_runc_lowered_limits_and_no_pulls(tmp_path: Path) -> None:
    secrets = {"ca": tmp_path / "ca"}
    argv = [str(a) for a in Engine("podman").build_argv(tmp_path, "mlapp:1", {"BASE_IMAGE": "b"}, secrets)]
    assert argv[:3] == ["podman", "--runtime", "runc"]
    assert {"--pull=never", "nofile=1024:1024", "nproc=1024:1024", "BASE_IMAGE=b"} <= set(argv)
    assert f"id=ca,src={tmp_path / 'ca'}" in argv and argv[-1] == str(tmp_path)
    docker = [str(a) for a in Engine("docker").build_argv(tmp_path, "mlapp:1", {}, secrets)]
    assert docker[:2] == ["docker", "build"] and "--pull=never" not in docker and "runc" not in docker


def test_container_runs_like_the_cluster_runs_it() -> None:
    ports = ((4321, 3000), (4322, 3001))
    argv = Engine("docker").run_argv("mlapp:1", "c", ports, {"A": "1"}, ("/tmp", "/var/run/x"))
    text = " ".join(map(str, argv))
    assert "--publish 127.0.0.1:4321:3000 --publish 127.0.0.1:4322:3001" in text  # loopback only
    assert "--read-only" in argv and "--tmpfs /var/run/x:rw,mode=1777" in text
    assert "--env A=1" in text and argv[-1] == "mlapp:1"
    assert "--user" not in argv  # the image's own non-root USER
    # infra/base: capabilities drop ALL, allowPrivilegeEscalation false
    assert "--cap-drop ALL --security-opt no-new-privileges" in text


class StoreEngine(Engine):
    """An engine whose image store is a set (no daemon needed)."""

    def __init__(self, name: str, images: set[str]) -> None:
        super().__init__(name)
        object.__setattr__(self, "images", images)

    def image_exists(self, ref: str) -> bool:
        return ref in self.images  # type: ignore[attr-defined]


def test_base_choice() -> None:
    pinned, standin = PARAMS.image.base, PARAMS.image.standin.tag
    say: list[str] = []
    # docker pulls the pinned digest itself; podman uses it when it already has it
    assert build.choose_base(StoreEngine("docker", set()), PARAMS, say.append) == (pinned, 0.0)
    assert build.choose_base(StoreEngine("podman", {pinned}), PARAMS, say.append) == (pinned, 0.0)
    assert not say
    # otherwise the cached stand-in: no rebuild when its tag exists
    assert build.choose_base(StoreEngine("podman", {standin}), PARAMS, say.append) == (standin, 0.0)
    assert "stand-in" in say[0]


def test_a_renamed_project_builds_its_own_standin_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make init NAME=acme` renames the stand-in's tag with the rest, so its first `make image`
    builds acme's own beside the template's: the message names the tag it builds and reuses, not a
    "once per machine" that a machine holding the template's stand-in already contradicts."""
    renamed = tmp_path / "params.yaml"
    renamed.write_text((REPO / "params.yaml").read_text().replace(template.TEMPLATE_NAME, "acme"))
    standin = load_params(renamed).image.standin
    assert standin.tag.startswith("localhost/acme-base:")
    ran: list[str] = []
    monkeypatch.setattr(base.proc, "run", lambda argv, **_kw: ran.append(str(argv[0])))
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    say: list[str] = []
    engine = StoreEngine("podman", {PARAMS.image.standin.tag})  # the template's, as on this machine
    base.ensure(engine, standin, say.append)
    assert ran == ["debootstrap", "tar", "podman"]  # the last: `podman import` of the rootfs
    assert say == [f"building the stand-in base {standin.tag} (debootstrap bookworm, once for this tag)"]
    assert base.ensure(StoreEngine("podman", {standin.tag}), standin, say.append) == 0.0


def test_standin_recipe_and_trim(tmp_path: Path) -> None:
    argv = base.debootstrap_argv(PARAMS.image.standin, tmp_path / "rootfs")
    assert argv[:2] == ["debootstrap", "--variant=minbase"]
    assert argv[-3:] == [PARAMS.image.standin.suite, str(tmp_path / "rootfs"), PARAMS.image.standin.mirror]
    assert "python3-venv" in argv[2]  # the Dockerfile's `python3 -m venv`
    (tmp_path / "usr/share/doc/pkg").mkdir(parents=True)
    (tmp_path / "usr/share/doc/pkg/changelog").write_text("x")
    (tmp_path / "usr/bin").mkdir(parents=True)
    base.trim(tmp_path)
    assert (tmp_path / "usr/share/doc").is_dir() and not any((tmp_path / "usr/share/doc").iterdir())
    assert (tmp_path / "usr/bin").is_dir()


def test_index_url_from_environment_or_pip_config(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\n")
    assert build.index_url({}, (conf,)) == "https://mirror.example/simple"
    env = {"PIP_INDEX_URL": "https://env.example/simple"}
    assert build.index_url(env, (conf,)) == "https://env.example/simple"
    # a file:// index lives on this machine: invisible inside the build, so not passed on
    assert build.index_url({"PIP_INDEX_URL": "file:///opt/pypi/simple"}, ()) == ""
    assert build.index_url({}, (tmp_path / "missing.conf",)) == ""


def test_build_secrets_carry_the_ca_bundle_only_when_set(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    files = build.build_secrets(tmp_path / "with", {"SSL_CERT_FILE": str(bundle)})
    assert files["ca"].read_text() == bundle.read_text()
    empty = build.build_secrets(tmp_path / "without", {})
    assert empty["ca"].read_text() == "" and set(empty) == {"ca", "index"}


class Readiness(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.send_response(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with answering(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Readiness)) as url:
        yield url


class Container(Engine):
    def __init__(self, alive: bool) -> None:
        super().__init__("podman")
        object.__setattr__(self, "alive", alive)

    def running(self, name: str) -> bool:
        return bool(self.alive)  # type: ignore[attr-defined]

    def logs(self, name: str, tail: int = 60) -> str:
        return "server log tail"


def test_ready_once_readyz_answers_200(server: str) -> None:
    Readiness.answers = [503, 503, 200]
    seconds = build.wait_ready(Container(alive=True), "c", server, timeout_s=30, poll_s=0.01)
    assert seconds >= 0 and Readiness.answers == [200]


def test_a_container_that_exits_fails_at_once_with_its_log(server: str) -> None:
    Readiness.answers = [503]
    with pytest.raises(UserError, match="exited before it was ready:\nserver log tail"):
        build.wait_ready(Container(alive=False), "c", server, timeout_s=30, poll_s=0.01)


def test_never_ready_fails_at_the_deadline(server: str) -> None:
    Readiness.answers = [503]
    with pytest.raises(UserError, match=r"/livez not healthy after 0.2 s \(HTTP 503\):\nserver log tail"):
        build.wait_ready(Container(alive=True), "c", server, timeout_s=0.2, poll_s=0.01)


def test_one_readiness_wait_for_a_started_server_and_a_deployed_one(server: str) -> None:
    """The image's container, make run's local server and a deployed service wait alike
    (smoke.wait_ready); a server started here that ended fails at once, not at the deadline."""
    assert build.ready_after is local.ready_after and build.free_ports is local.free_ports
    Readiness.answers = [503]
    with httpx.Client(base_url=server) as http, pytest.raises(smoke.SmokeFailure) as failed:
        smoke.wait_ready(http, timeout_s=30, poll_s=0.01, gone=lambda: "the server exited (1)")
    assert str(failed.value) == "the server exited (1) before it was ready"
    Readiness.answers = [200]
    with httpx.Client(base_url=server) as http:
        assert 0 <= smoke.wait_ready(http, timeout_s=30, poll_s=0.01, gone=lambda: None) < 30


def test_the_probe_port_must_answer_200_on_both_paths(server: str) -> None:
    Readiness.answers = [200]
    seen: list[str] = []
    build.check_probes(server, 3001, seen.append)
    assert seen == ["ok   probe port 3001: /livez and /readyz answer 200"]
    Readiness.answers = [200, 503]  # /livez 200, then /readyz 503
    where = r"probe port 3001 \(serving.probe_port\)"
    with pytest.raises(smoke.SmokeFailure, match=f"{where}: /readyz answers 503"):
        build.check_probes(server, 3001, print)
    with pytest.raises(smoke.SmokeFailure, match=f"{where}: ConnectError"):
        build.check_probes(f"http://127.0.0.1:{free_port()}", 3001, print)


def test_size_limit() -> None:
    limit = PARAMS.image.max_size_mb
    report = build.ImageReport(
        "podman", "mlapp:1", "id", "b", "p", (limit + 1) * build.MB, 0, 1, 2, "passed", Path("c"), "v"
    )
    with pytest.raises(UserError, match=f"over image.max_size_mb = {limit}"):
        build.check_size(report, PARAMS)
    build.check_size(report.__class__(**{**report.__dict__, "size_bytes": limit * build.MB}), PARAMS)
    assert report.outputs()["smoke"] == "passed" and os.sep not in report.outputs()["size_mb"]


class Audited(Engine):
    def __init__(self, answer: str) -> None:
        super().__init__("podman")
        object.__setattr__(self, "answer", answer)

    def run_once(self, ref: str, entrypoint: str, *args: str, workdir: str | None = None) -> str:
        if entrypoint == "python3":  # the import check, from the bento's own code
            assert workdir == build.BENTO_SRC and set(build.RUNTIME_MODULES) <= set(args)
            if "broken" in ref:
                raise CommandError([entrypoint, *args], 1, "ImportError: cannot import name 'lineage'")
            return ""
        assert set(build.FORBIDDEN_TOOLS) <= set(args)
        return str(self.answer)  # type: ignore[attr-defined]


def test_audit_refuses_root_build_tools_and_a_bento_missing_modules() -> None:
    build.audit(Audited("1034\n"), "mlapp:1")
    with pytest.raises(UserError, match=r"cannot import (?s:.*)name 'lineage'"):
        build.audit(Audited("1034\n"), "mlapp:broken")
    with pytest.raises(UserError, match=r"uid 0"):
        build.audit(Audited("0\n"), "mlapp:1")
    with pytest.raises(UserError, match=r"/usr/bin/gcc"):
        build.audit(Audited("1034\n/usr/bin/gcc\n"), "mlapp:1")


class Unready(Container):
    def __init__(self) -> None:
        super().__init__(alive=False)
        object.__setattr__(self, "calls", [])

    def run_detached(self, ref: str, name: str, *args: object, **kwargs: object) -> None:
        self.calls.append(("run", name))  # type: ignore[attr-defined]

    def remove(self, name: str) -> None:
        self.calls.append(("remove", name))  # type: ignore[attr-defined]


def test_the_container_is_removed_when_it_fails_to_start() -> None:
    engine = Unready()
    with pytest.raises(UserError, match="exited before it was ready"):
        build.serve_and_smoke(engine, "mlapp:1", PARAMS, "v1", print)
    (_, started), (action, removed) = engine.calls  # type: ignore[attr-defined]
    assert action == "remove" and removed == started
