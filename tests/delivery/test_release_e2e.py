"""A whole release, locally: register -> deploy staging -> smoke against a real `bentoml serve`
-> accept (alias) -> promote -> smoke with the model fetched from the registry -> rollback.

Everything the workflows do except building the image and applying to a cluster.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tests.conftest import BIN, copy_project, sh
from tests.delivery.conftest import IDENTITY, bin_dir, digest, image, path_with

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def released(trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trained project copy with an origin remote, its own MLflow and a git identity."""
    root = copy_project(trained_project, tmp_path / "project")
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GH_TOKEN", "SERVICE_URL", "KUBE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    sh("git", "init", "-q", "--bare", tmp_path / "origin.git", cwd=tmp_path)
    sh("git", "remote", "add", "origin", tmp_path / "origin.git", cwd=root)
    sh("git", "push", "-q", "origin", "main", cwd=root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def server(released: Path) -> Iterator[str]:
    port = free_port()
    log = (released.parent / "serve.log").open("w")
    proc = subprocess.Popen(
        [BIN / "mlapp", "serve", "--port", str(port)], cwd=released, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def mlapp(*args: str, root: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("mlapp", *args, cwd=root, check=check)


def aliases(name: str = "mlapp") -> dict[str, str]:
    model = MlflowClient().get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_release_cycle_with_real_service_and_registry(released: Path, server: str) -> None:
    start = time.perf_counter()
    a, b = image("a"), image("b")
    mlapp("register", "--tag", f"image.digest={digest('a')}", "--tag", f"image.ref={a}", root=released)
    mlapp("deploy", "--env", "staging", "--image", a, "--push", root=released)

    smoke = mlapp("smoke-env", "--env", "staging", "--url", server, "--fetch", root=released)
    assert "smoke test passed" in smoke.stdout
    out = mlapp("accept", "--env", "staging", "--digest", digest("a"), "--push", root=released).stdout
    assert "mlapp@staging -> version 1" in out
    assert aliases() == {"staging": "1"}

    mlapp("promote", "--push", root=released)
    # A promotion job checks out main, which has no model of that release: the smoke test
    # must fetch the released model from the registry, by digest, and still pass.
    shutil.move(released / "models", released.parent / "models-away")
    smoke = mlapp("smoke-env", "--env", "production", "--url", server, "--fetch", root=released)
    assert "fetched model" in smoke.stdout and "smoke test passed" in smoke.stdout
    mlapp("accept", "--env", "production", "--push", root=released)
    assert aliases() == {"staging": "1", "production": "1"}

    card = mlapp("release-notes", "--env", "production", "--fetch", root=released).stdout
    assert f"`{a}`" in card and "| roc_auc |" in card and "| model.sha256 |" in card
    assert "promote from staging" in card

    # A second image of the same model: its own registry version.
    shutil.move(released.parent / "models-away", released / "models")
    mlapp("register", "--tag", f"image.digest={digest('b')}", root=released)
    mlapp("deploy", "--env", "staging", "--image", b, "--push", root=released)
    mlapp("accept", "--env", "staging", "--push", root=released)
    mlapp("promote", "--push", root=released)
    mlapp("accept", "--env", "production", "--push", root=released)
    assert aliases() == {"staging": "2", "production": "2"}

    mlapp("rollback", "--env", "production", "--push", root=released)
    mlapp("smoke-env", "--env", "production", "--url", server, "--fetch", root=released)
    mlapp("accept", "--env", "production", "--push", root=released)
    assert aliases() == {"staging": "2", "production": "1"}  # the alias moved back
    print(f"release cycle: {time.perf_counter() - start:.1f}s")


def test_smoke_fails_when_the_service_runs_another_model(released: Path, server: str) -> None:
    fake = released / "other-model"
    shutil.copytree(released / "models", fake)
    (fake / "model.ubj").write_bytes((fake / "model.ubj").read_bytes() + b" ")  # another version
    mlapp(
        "deploy", "--env", "staging", "--image", image("c"), "--model-dir", str(fake), "--push", root=released
    )
    done = mlapp("smoke-env", "--env", "staging", "--url", server, "--fetch", root=released, check=False)
    assert done.returncode != 0
    # Not verified, so not promotable.
    promote = mlapp("promote", "--push", root=released, check=False)
    assert promote.returncode != 0 and "no verified release" in promote.stderr


def test_registry_lookup_by_digest_and_alias_errors(released: Path) -> None:
    from mlapp.delivery import registry
    from mlapp.params import load_params

    params = load_params("params.yaml").mlflow
    mlapp("register", "--tag", f"image.digest={digest('d')}", root=released)
    version, tags = registry.version_for_digest(params, digest("d"))
    assert version == "1" and tags["image.digest"] == digest("d") and "model.sha256" in tags
    with pytest.raises(registry.RegistryError, match="register it with"):
        registry.version_for_digest(params, digest("e"))
    assert registry.move_alias(params, "staging", digest("d")) == "1"
    assert registry.alias_version(params, "staging") == "1"
    assert registry.alias_version(params, "production") is None


def test_registry_refuses_a_runner_local_sqlite(released: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Actions, a sqlite registry would vanish with the runner: say which variable to set."""
    from mlapp.delivery import registry
    from mlapp.params import load_params

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(registry.RegistryError, match="MLFLOW_TRACKING_URI is not set"):
        registry.version_for_digest(load_params("params.yaml").mlflow, digest("a"))


def test_smoke_through_kubectl_port_forward(
    released: Path, server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SERVICE_URL the smoke test reaches the Service through `kubectl port-forward`."""
    port = server.rsplit(":", 1)[1]
    real = shutil.which("kubectl")
    fake = bin_dir(
        tmp_path,
        "kubectl",
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{tmp_path}/kubectl.log"
if [ "$1" = kustomize ]; then exec {real} "$@"; fi
echo "Forwarding from 127.0.0.1:{port} -> 3000"
exec sleep 300
""",
    )
    monkeypatch.setenv("PATH", path_with(fake))
    mlapp("deploy", "--env", "staging", "--image", image("a"), "--push", root=released)
    done = mlapp("smoke-env", "--env", "staging", "--fetch", root=released)
    assert "smoke test passed" in done.stdout
    calls = (tmp_path / "kubectl.log").read_text()
    assert "port-forward -n mlapp-staging svc/mlapp :3000" in calls
