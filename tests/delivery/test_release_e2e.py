"""A whole release, locally: register -> deploy staging -> wait for it -> smoke against a real
`bentoml serve` -> accept (alias) -> promote -> smoke with the model fetched from the registry
-> rollback.

Everything the workflows do except building the image and applying to a cluster. One test on
one server and one project copy: starting BentoML and training are the expensive parts.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tests.conftest import BIN, copy_project, free_port, running_server, sh
from tests.delivery.conftest import IDENTITY, bin_dir, digest, image, path_with

from mlapp.delivery import registry
from mlapp.delivery.cluster import served_version
from mlapp.delivery.state import StateError
from mlapp.params import load_params

pytestmark = pytest.mark.slow


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
    argv = [str(BIN / "mlapp"), "serving", "serve", "--port", str(port)]
    with running_server(argv, port, released, released.parent / "serve.log") as url:
        yield url


def aliases(name: str = "mlapp") -> dict[str, str]:
    model = MlflowClient().get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_release_cycle_with_real_service_and_registry(
    released: Path, server: str, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.perf_counter()

    def ok(*args: str) -> str:
        code, out = mlapp(*args)
        assert code == 0, f"mlapp {' '.join(args)}:\n{out}"
        return out

    a, b = image("a"), image("b")
    ok("pipeline", "register", "--tag", f"image.digest={digest('a')}", "--tag", f"image.ref={a}")
    ok("delivery", "deploy", "--env", "staging", "--image", a, "--push")

    # 1. Without SERVICE_URL the smoke test reaches the Service through `kubectl port-forward`
    #    (a fake kubectl forwards to the local server; rendering stays the real kustomize).
    port = server.rsplit(":", 1)[1]
    fake = bin_dir(
        tmp_path,
        "kubectl",
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{tmp_path}/kubectl.log"
if [ "$1" = kustomize ]; then exec {shutil.which("kubectl")} "$@"; fi
if [ "$*" = "apply -f -" ]; then cat > "{tmp_path}/secret.json"; fi
echo "Forwarding from 127.0.0.1:{port} -> 3000"
exec sleep 300
""",
    )
    with monkeypatch.context() as patched:
        patched.setenv("PATH", path_with(fake))
        patched.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")  # kubectl can reach "a cluster"
        assert "serves model" in ok("delivery", "wait", "--env", "staging", "--fetch")
        assert "smoke test passed" in ok("delivery", "smoke", "--env", "staging", "--fetch")
    assert "port-forward -n mlapp-staging svc/mlapp :3000" in (tmp_path / "kubectl.log").read_text()

    # 2. Verified: the alias follows, looked up by the image digest.
    assert "mlapp@staging -> version 1" in ok(
        "delivery", "accept", "--env", "staging", "--digest", digest("a"), "--push"
    )
    assert aliases() == {"staging": "1"}
    mlflow_params = load_params("params.yaml").mlflow
    assert registry.version_for_digest(mlflow_params, digest("a"))[1]["image.ref"] == a
    with pytest.raises(registry.RegistryError, match="register it with"):
        registry.version_for_digest(mlflow_params, digest("e"))

    # 3. A promotion job checks out main, which has no model of that release: the smoke test
    #    fetches the released model from the registry, by digest, and still passes.
    ok("delivery", "promote", "--to", "production", "--push")
    shutil.move(released / "models", released.parent / "models-away")
    smoke = ok("delivery", "smoke", "--env", "production", "--url", server, "--fetch")
    assert "fetched model" in smoke and "smoke test passed" in smoke
    ok("delivery", "accept", "--env", "production", "--push")
    assert aliases() == {"staging": "1", "production": "1"}

    # 4. A second image of the same model gets its own registry version; rollback moves the
    #    alias back to the first.
    shutil.move(released.parent / "models-away", released / "models")
    ok("pipeline", "register", "--tag", f"image.digest={digest('b')}")
    for step in (
        ("deploy", "--env", "staging", "--image", b),
        ("accept", "--env", "staging"),
        ("promote", "--to", "production"),
        ("accept", "--env", "production"),
    ):
        ok("delivery", *step, "--push")
    assert aliases() == {"staging": "2", "production": "2"}
    ok("delivery", "rollback", "--env", "production", "--push")
    ok("delivery", "smoke", "--env", "production", "--url", server, "--fetch")
    ok("delivery", "accept", "--env", "production", "--push")
    assert aliases() == {"staging": "2", "production": "1"}

    # 5. A service that runs another model fails the smoke test; unverified, it cannot be promoted.
    other = released / "other-model"
    shutil.copytree(released / "models", other)
    (other / "model.ubj").write_bytes((other / "model.ubj").read_bytes() + b" ")
    ok("delivery", "deploy", "--env", "staging", "--image", image("c"), "--model-dir", str(other), "--push")
    code, out = mlapp("delivery", "wait", "--env", "staging", "--url", server, "--timeout", "0", "--fetch")
    assert code != 0 and "still serves model" in out and "not model" in out, out
    code, out = mlapp("delivery", "smoke", "--env", "staging", "--url", server, "--fetch")
    assert code != 0, out
    code, out = mlapp("delivery", "promote", "--to", "production", "--digest", digest("c"), "--push")
    assert code != 0 and "never passed staging" in out
    print(f"release cycle: {time.perf_counter() - start:.1f}s")


def test_registry_refuses_a_runner_local_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Actions, a sqlite registry would vanish with the runner: say which variable to set."""
    from tests.conftest import REPO

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(registry.RegistryError, match="MLFLOW_TRACKING_URI is not set"):
        registry.version_for_digest(load_params(REPO / "params.yaml").mlflow, digest("a"))


@pytest.fixture
def guarded_server(released: Path) -> Iterator[str]:
    """The service with authentication on, as the Kubernetes overlays run it."""
    port = free_port()
    argv = [str(BIN / "mlapp"), "serving", "serve", "--port", str(port)]
    env = {**os.environ, "MLAPP_API_TOKENS": "old-token e2e-token"}
    with running_server(argv, port, released, released.parent / "serve.log", env=env) as url:
        yield url


def test_kind_e2e_command_against_a_fake_cluster_and_a_real_service(
    released: Path, guarded_server: str, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make e2e` as the kind job runs it; docker and kubectl are fakes, the service is real and
    wants a bearer token: the e2e creates the tokens Secret, wait and smoke send the token."""
    server = guarded_server
    monkeypatch.delenv("MLAPP_API_TOKEN", raising=False)
    with pytest.raises(StateError, match=r"/metadata answers 401: set \$MLAPP_API_TOKEN"):
        served_version(server)  # no token: a clear error at once, not a wait until the deadline
    monkeypatch.setenv("MLAPP_API_TOKEN", "e2e-token")  # what the Secret below must carry
    pushed = digest("d")
    docker = bin_dir(
        tmp_path,
        "docker",
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{tmp_path}/docker.log"
if [ "$1" = inspect ]; then echo '["kind-registry:5000/mlapp@{pushed}"]'; fi
""",
    )
    port = server.rsplit(":", 1)[1]
    bin_dir(
        tmp_path,
        "kubectl",
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{tmp_path}/kubectl.log"
if [ "$1" = kustomize ]; then exec {shutil.which("kubectl")} "$@"; fi
if [ "$*" = "apply -f -" ]; then cat > "{tmp_path}/secret.json"; fi
if [ "$1" = port-forward ]; then echo "Forwarding from 127.0.0.1:{port} -> 3000"; exec sleep 300; fi
""",
    )
    monkeypatch.setenv("PATH", path_with(docker))
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    code, out = mlapp("delivery", "e2e", "--image", "mlapp:local", "--no-argocd")
    assert code == 0, out
    assert "6/6 staging on the cluster serves model" in out, out
    assert (tmp_path / "docker.log").read_text().splitlines() == [
        "tag mlapp:local kind-registry:5000/mlapp:e2e",
        "push kind-registry:5000/mlapp:e2e",
        "inspect --format {{json .RepoDigests}} kind-registry:5000/mlapp:e2e",
    ]
    calls = (tmp_path / "kubectl.log").read_text().splitlines()
    assert calls[0].startswith("apply -k infra/bootstrap")
    apply = next(c for c in calls if c.startswith("apply -n mlapp-staging"))
    assert apply.endswith("--prune --applyset=configmaps/mlapp-applyset")
    assert "port-forward -n mlapp-staging svc/mlapp :3000" in calls
    secret = json.loads((tmp_path / "secret.json").read_text())  # the one infra/base mounts
    assert (secret["kind"], secret["metadata"]) == (
        "Secret",
        {"namespace": "mlapp-staging", "name": "mlapp-api-tokens"},
    )
    assert secret["stringData"] == {"tokens": "e2e-token"}
    # Recorded on a LOCAL deploy branch only, like a real deploy, by the digest the registry gave.
    shown = sh("git", "show", "deploy:staging/manifests.yaml", cwd=released).stdout
    assert f"image: kind-registry:5000/mlapp@{pushed}" in shown
    assert sh("git", "ls-remote", "origin", "deploy", cwd=released).stdout == ""
