"""`make image`: build the serving image, run it on 127.0.0.1, smoke-test it, stop it.

1. ``context.prepare``: bento + Dockerfile (base pinned by digest) + hashed requirements;
2. the base: the pinned one where the engine can pull it (docker) or already has it, else
   the local stand-in (``mlapp.image.base``, built once per machine and tag);
3. build with docker or podman (``mlapp.image.engine``); this machine's CA bundle and
   package index reach the builder stage as build secrets, never as image content;
4. run it as the cluster does (non-root, read-only root filesystem, tmpfs for state, the
   Deployment's memory and CPU limits: ``mlapp.image.pod``) on a free 127.0.0.1 port, poll
   ``/readyz`` until ``image.ready_timeout_s``, run the smoke test (``mlapp.serving.smoke``:
   predictions equal to the local model's, the expected version), then SIGTERM it with a
   request in flight: answered, exit 0 within the grace period;
5. remove the container, whatever happened, and fail above ``image.max_size_mb``.
"""

from __future__ import annotations

import configparser
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlapp import proc
from mlapp.errors import UserError
from mlapp.image import base, context, pod
from mlapp.image.engine import Engine, detect
from mlapp.params import Params
from mlapp.schema import FEATURES
from mlapp.serving import PREDICTION_LOG_ENV, smoke
from mlapp.serving.local import free_ports, ready_after

CONTAINER_PORT = 3000  # BentoML's default; the Dockerfile EXPOSEs it, infra/base targets it
# As infra/base/deployment.yaml: BentoML's state and the prediction log on tmpfs, the bento
# itself read-only. Paths inside the container, not on this machine.
TMP_DIR, STATE_DIR, LOG_DIR = "/tmp", "/var/run/bentoml", "/var/log/mlapp"  # noqa: S108
CONTAINER_ENV = {"BENTOML_HOME": STATE_DIR, PREDICTION_LOG_ENV: f"{LOG_DIR}/predictions.jsonl"}
TMPFS = (TMP_DIR, STATE_DIR, LOG_DIR)
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")
PIP_CONFIG_FILES = (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), Path("~/.config/pip/pip.conf"))
MB = 1_000_000  # decimal, as `docker images` prints sizes

Echo = Callable[[str], None]


@dataclass(frozen=True)
class ImageReport:
    engine: str
    image: str
    image_id: str
    base: str  # what the build started from
    pinned_base: str  # the Dockerfile's default (what a registry build uses)
    size_bytes: int
    base_s: float  # building the stand-in base (0: cached or not needed)
    build_s: float
    ready_s: float | None  # container start to /readyz 200 (None: not run)
    smoke: str  # passed | skipped
    context: Path
    model_version: str

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB

    def outputs(self) -> dict[str, str]:
        """KEY=VALUE facts for CI (``mlapp.gha.set_outputs``) and for benchmarks."""
        ready = "" if self.ready_s is None else f"{self.ready_s:.2f}"
        return {
            "engine": self.engine,
            "image": self.image,
            "image_id": self.image_id,
            "base": self.base,
            "pinned_base": self.pinned_base,
            "size_mb": f"{self.size_mb:.1f}",
            "base_s": f"{self.base_s:.1f}",
            "build_s": f"{self.build_s:.1f}",
            "ready_s": ready,
            "smoke": self.smoke,
            "context": str(self.context),
            "model_version": self.model_version,
        }


def index_url(
    environ: Mapping[str, str] = os.environ, config_files: tuple[Path, ...] = PIP_CONFIG_FILES
) -> str:
    """The package index this machine's pip/uv use, when not the default and reachable from a
    container ("" otherwise): a ``file://`` index on the host is not visible inside the build."""
    candidates = [environ.get(name, "") for name in INDEX_VARIABLES]
    for path in config_files:
        parser = configparser.ConfigParser()
        try:
            parser.read(path.expanduser())
        except configparser.Error:
            continue
        candidates.append(parser.get("global", "index-url", fallback=""))
    return next((url for url in candidates if url and not url.startswith("file:")), "")


def build_secrets(folder: Path, environ: Mapping[str, str] = os.environ) -> dict[str, Path]:
    """Files for the Dockerfile's optional `ca` and `index` secrets (empty: not needed)."""
    ca_bundle = Path(environ.get("SSL_CERT_FILE", ""))
    files = {
        "ca": ca_bundle.read_text() if ca_bundle.name and ca_bundle.is_file() else "",
        "index": index_url(environ),
    }
    for key, text in files.items():
        (folder / key).write_text(text)
    return {key: folder / key for key in files}


def choose_base(engine: Engine, params: Params, echo: Echo) -> tuple[str, float]:
    """The pinned base where possible, else the stand-in (built once); and seconds spent on it."""
    pinned = params.image.base
    if engine.name == "docker" or engine.image_exists(pinned):
        return pinned, 0.0
    echo(f"{pinned} is not available here and {engine.name} cannot pull it: using the local stand-in")
    seconds = base.ensure(engine, params.image.standin, echo)
    return params.image.standin.tag, seconds


def wait_ready(engine: Engine, name: str, url: str, timeout_s: float, poll_s: float = 0.2) -> float:
    """Seconds until the container ``name`` is ready; fails early when it exits."""

    def gone() -> str | None:
        return None if engine.running(name) else f"the container {name} exited"

    return ready_after(url, timeout_s, gone, lambda: engine.logs(name), poll_s)


# Must not be on the final image's PATH: compilers, build and install tools, VCS.
FORBIDDEN_TOOLS = ("gcc", "cc", "c++", "make", "uv", "pip", "pip3", "git")
AUDIT = 'id -u; for tool in "$@"; do command -v "$tool" || true; done'


# What the image runs: the server (supervise, forking its workers), the service and batch
# scoring (python -m ...score). Importing them from the bento's own code proves the bento
# carries every module they need (a module missing from bentofile.yaml's include list passes
# tests run from the source tree).
RUNTIME_MODULES = (
    "mlapp.serving.supervise",
    "mlapp.serving.fork",
    "mlapp.serving.service",
    "mlapp.serving.score",
)
BENTO_SRC = "/home/bentoml/bento/src"
IMPORTS = "import importlib, sys; [importlib.import_module(name) for name in sys.argv[1:]]"


def audit(engine: Engine, ref: str) -> None:
    """The built image runs as non-root, carries no compiler, installer or VCS, and its bento
    imports what the service and the scoring job run."""
    lines = engine.run_once(ref, "/bin/sh", "-c", AUDIT, "audit", *FORBIDDEN_TOOLS).splitlines()
    uid, found = lines[0].strip(), [line.strip() for line in lines[1:] if line.strip()]
    if uid == "0" or found:
        raise UserError(f"{ref}: runs as uid {uid}; tools that must not be in the image: {found or 'none'}")
    try:
        engine.run_once(ref, "python3", "-c", IMPORTS, *RUNTIME_MODULES, workdir=BENTO_SRC)
    except proc.CommandError as exc:
        raise UserError(f"{ref}: the bento cannot import {RUNTIME_MODULES}:\n{exc.stderr[-2000:]}") from exc


def check_probes(url: str, container_port: int, echo: Echo) -> None:
    """The kubelet's probe port (``serving.probe_port``, what infra/base probes) answers 200 on
    both paths: a pod whose probe listener failed to start would never become ready."""
    where = f"probe port {container_port} (serving.probe_port)"
    try:
        with httpx.Client(base_url=url, timeout=5.0) as http:
            answers = {path: http.get(path) for path in ("/livez", "/readyz")}
    except httpx.TransportError as exc:
        raise smoke.SmokeFailure(f"{where}: {exc!r}") from exc
    for path, answer in answers.items():
        if answer.status_code != 200:
            text = answer.text.strip()[:200]
            raise smoke.SmokeFailure(f"{where}: {path} answers {answer.status_code} {text}")
    echo(f"ok   probe port {container_port}: /livez and /readyz answer 200")


def check_stop(engine: Engine, name: str, url: str, grace_s: float, echo: Echo) -> None:
    """SIGTERM with a request in flight, as the kubelet stops a pod: the request answered 200, then
    exit 0 within terminationGracePeriodSeconds, not OOM-killed."""
    body = json.dumps({"records": smoke.schema_records(FEATURES)}).encode()
    with smoke.client(url, grace_s) as http:
        stopped = pod.stop_gracefully(http, body, engine, name, grace_s)
    if problems := stopped.problems(grace_s):
        raise smoke.SmokeFailure("on SIGTERM with a request in flight: " + "; ".join(problems))
    echo(f"ok   SIGTERM: the request in flight answered 200, exit 0 after {stopped.seconds:.1f} s")


def serve_and_smoke(engine: Engine, ref: str, params: Params, expect_version: str, echo: Echo) -> float:
    """Run ``ref`` as infra/base does, wait until ready, smoke-test it, stop it with SIGTERM;
    always remove the container. Seconds to ready."""
    limits = pod.read_limits(params.delivery.infra_dir / pod.DEPLOYMENT)
    name = f"{params.image.name}-smoke-{secrets.token_hex(4)}"
    port, probe_port = free_ports(2)
    url = f"http://127.0.0.1:{port}"
    ports = ((port, CONTAINER_PORT), (probe_port, params.serving.probe_port))
    engine.run_detached(ref, name, ports, CONTAINER_ENV, TMPFS, limits.run_options())
    try:
        ready_s = wait_ready(engine, name, url, params.image.ready_timeout_s)
        echo(f"ready after {ready_s:.1f} s: {url}")
        try:
            smoke.run(url, params.train.model_dir, expect_version, timeout_s=30.0, echo=echo)
            check_probes(f"http://127.0.0.1:{probe_port}", params.serving.probe_port, echo)
            check_stop(engine, name, url, limits.grace_s, echo)
        except smoke.SmokeFailure as exc:
            raise UserError(f"smoke test failed against {ref}: {exc}\n{engine.logs(name)}") from exc
    finally:
        engine.remove(name)
    return ready_s


def build_and_smoke(
    params: Params, engine_choice: str = "auto", run: bool = True, echo: Echo = print
) -> ImageReport:
    engine = detect(engine_choice)
    ctx = context.prepare(params)
    base_ref, base_s = choose_base(engine, params, echo)
    tag = f"{params.image.name}:{ctx.bento.tag.split(':', 1)[1]}"
    echo(f"building {tag} with {engine.name} from {base_ref}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlapp-image-") as tmp:
        engine.build(ctx.path, tag, ctx.build_args(base_ref), build_secrets(Path(tmp)))
    build_s = time.monotonic() - started
    audit(engine, tag)
    model_version = ctx.bento.lineage.model_version
    ready_s = serve_and_smoke(engine, tag, params, model_version, echo) if run else None
    report = ImageReport(
        engine=engine.name,
        image=tag,
        image_id=engine.image_id(tag),
        base=base_ref,
        pinned_base=ctx.base,
        size_bytes=engine.image_size(tag),
        base_s=base_s,
        build_s=build_s,
        ready_s=ready_s,
        smoke="passed" if run else "skipped",
        context=ctx.path,
        model_version=model_version,
    )
    return report


def check_size(report: ImageReport, params: Params) -> None:
    if report.size_mb > params.image.max_size_mb:
        raise UserError(
            f"{report.image} is {report.size_mb:.0f} MB, over image.max_size_mb = {params.image.max_size_mb}"
        )
