"""A whole release, locally: register -> deploy staging -> wait for it -> smoke against a real
`bentoml serve` -> accept (alias) -> promote -> smoke against the answers recorded in the release
-> rollback.

Everything the workflows do except building the image and applying to a cluster. One test on
one server and one project copy: starting BentoML and training are the expensive parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from mlflow.tracking import MlflowClient
from tests.conftest import BIN, copy_project, own_probe_port, running_server, sh
from tests.delivery.conftest import ENVIRONMENTS, FIRST, IDENTITY, LAST, bin_dir, digest, image, path_with
from tests.delivery.steps import CD_JOB, FOUND, RUNNER, UV, command, defaults, gh, make_recipe

from mlapp.delivery import cluster as cluster_module
from mlapp.delivery import ops
from mlapp.delivery.cluster import served_version
from mlapp.delivery.state import StateError
from mlapp.params import load_params
from mlapp.serving.local import free_port

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
    argv = [str(BIN / "mlapp"), "serving", "serve", "--port", str(port), *own_probe_port()]
    with running_server(argv, port, released, released.parent / "serve.log") as url:
        yield url


def aliases(name: str = "mlapp") -> dict[str, str]:
    model = MlflowClient().get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_release_cycle_with_real_service_and_registry(
    released: Path, server: str, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = time.perf_counter()

    def ok(*args: str, env: dict[str, str] | None = None) -> str:
        code, out = mlapp(*args, env=env)
        assert code == 0, f"mlapp {' '.join(args)}:\n{out}"
        return out

    def step(workflow: str, job: str, starts: str, **context: str) -> str:
        """The workflow's step as the job runs it: its argv, its env (inputs at their defaults)."""
        tracking = {"vars.MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}  # this test's store
        argv, env = command(workflow, job, UV + starts, {**defaults(workflow), **tracking, **context}, RUNNER)
        return ok(*argv[1:], env=env)

    a, b = image("a"), image("b")
    monkeypatch.setenv("PATH", gh(tmp_path / "gh", FOUND))  # every image here is "attested"
    built = {"needs.build.outputs.image": a.split("@")[0], "needs.build.outputs.digest": digest("a")}
    step("cd.yml", CD_JOB, "mlapp delivery deploy ", **built)
    step("cd.yml", CD_JOB, "mlapp pipeline register ", **built)  # (cd registers after wait, smoke)

    # 1. Without SERVICE_URL the smoke test reaches the Service through `kubectl port-forward`
    #    (a fake kubectl forwards to the local server; rendering stays the real kustomize).
    port = server.rsplit(":", 1)[1]
    fake = bin_dir(
        tmp_path,
        "kubectl",
        f"""#!/bin/sh
printf "%s\\n" "$*" >> "{tmp_path}/kubectl.log"
if [ "$1" = kustomize ]; then exec {shutil.which("kubectl")} "$@"; fi
if [ "$1" = config ]; then exit 0; fi  # KUBE_CONFIG loads (else it would sleep as a port-forward)
if [ "$*" = "apply -f -" ]; then cat > "{tmp_path}/secret.json"; fi
echo "Forwarding from 127.0.0.1:{port} -> 3000"
exec sleep 300
""",
    )
    with monkeypatch.context() as patched:
        patched.setenv("PATH", path_with(fake))
        patched.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")  # kubectl can reach "a cluster"
        cluster = {**built, "secrets.KUBE_CONFIG": "apiVersion: v1\nkind: Config\n"}  # no SERVICE_URL
        assert "serves model" in step("cd.yml", CD_JOB, "mlapp delivery wait ", **cluster)
        assert "smoke test passed" in step("cd.yml", CD_JOB, "mlapp delivery smoke ", **cluster)
    assert f"port-forward -n mlapp-{FIRST} svc/mlapp :3000" in (tmp_path / "kubectl.log").read_text()

    # 2. Verified: the alias follows, looked up by the image digest.
    assert f"mlapp@{FIRST} -> version 1" in step("cd.yml", CD_JOB, "mlapp delivery accept ", **built)
    assert aliases() == {FIRST: "1"}
    mlflow_params = load_params("params.yaml").mlflow
    assert MlflowClient().get_model_version("mlapp", "1").tags["image.ref"] == a
    with pytest.raises(StateError, match="register that image's model, from the commit it was built from"):
        ops.move_alias(mlflow_params, FIRST, digest("e"))

    # 3. A promotion job checks out main, which has no model of that release: the smoke test
    #    sends the records the release recorded, expects the answers recorded with them, and passes.
    #    promote.yml's steps, a manual run with the default inputs (production, 'current').
    shutil.move(released / "models", released.parent / "models-away")
    service = {"vars.SERVICE_URL": server}
    assert "verified 1 provenance" in step("promote.yml", "promote", "mlapp delivery promote ", **service)
    assert "serves model" in step("promote.yml", "promote", "mlapp delivery wait ", **service)
    smoke = step("promote.yml", "promote", "mlapp delivery smoke ", **service)
    assert f"recorded in {LAST}'s release" in smoke and "smoke test passed" in smoke
    step("promote.yml", "promote", "mlapp delivery accept ", **service)
    assert aliases() == {FIRST: "1", LAST: "1"}

    # 4. A second image of the same model gets its own registry version; rollback moves the
    #    alias back to the first.
    shutil.move(released.parent / "models-away", released / "models")
    ok("pipeline", "register", "--tag", f"image.digest={digest('b')}", env=RUNNER)  # cd's, as the first
    for args in (
        ("deploy", "--env", FIRST, "--image", b),
        ("accept", "--env", FIRST),
        ("promote", "--to", LAST),
        ("accept", "--env", LAST),
    ):
        ok("delivery", *args, "--push")
    assert aliases() == {FIRST: "2", LAST: "2"}
    #    rollback.yml's steps, default inputs (production, the previous verified release).
    for starts in ("rollback ", "wait ", "smoke ", "accept "):
        step("rollback.yml", "rollback", "mlapp delivery " + starts, **service)
    assert aliases() == {FIRST: "2", LAST: "1"}
    attested = [line.split()[2] for line in (tmp_path / "gh" / "gh.log").read_text().splitlines()]
    assert attested == [f"oci://{i}" for i in (a, a, a)]  # deploy, promote, rollback: each verified

    # 5. A service that runs another model fails the smoke test; unverified, it cannot be promoted.
    other = released / "other-model"
    shutil.copytree(released / "models", other)
    (other / "model.ubj").write_bytes((other / "model.ubj").read_bytes() + b" ")
    ok("delivery", "deploy", "--env", FIRST, "--image", image("c"), "--model-dir", str(other), "--push")
    code, out = mlapp("delivery", "wait", "--env", FIRST, "--url", server, "--timeout", "1", "--fetch")
    assert code != 0 and "still serves model" in out and "not model" in out, out
    code, out = mlapp("delivery", "smoke", "--env", FIRST, "--url", server, "--fetch")
    assert code == 1 and f"FAIL smoke test against {FIRST}: " in out, out  # a "no", as README says
    code, out = mlapp("delivery", "promote", "--to", LAST, "--digest", digest("c"), "--push")
    assert code != 0 and f"never passed {FIRST}" in out
    print(f"release cycle: {time.perf_counter() - start:.1f}s")


def test_registry_refuses_a_runner_local_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """In Actions, a sqlite registry would vanish with the runner: say which variable to set."""
    from tests.conftest import REPO

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(StateError, match="MLFLOW_TRACKING_URI is not set"):
        ops.move_alias(load_params(REPO / "params.yaml").mlflow, FIRST, digest("a"))


@pytest.fixture
def guarded_server(released: Path) -> Iterator[str]:
    """The service with authentication on, as the Kubernetes overlays run it."""
    port = free_port()
    argv = [str(BIN / "mlapp"), "serving", "serve", "--port", str(port), *own_probe_port()]
    env = {**os.environ, "MLAPP_API_TOKENS": "old-token e2e-token"}
    with running_server(argv, port, released, released.parent / "serve.log", env=env) as url:
        yield url


def test_kind_e2e_command_against_a_fake_cluster_and_a_real_service(
    released: Path, guarded_server: str, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kind.yml's `make e2e` step as the job runs it (LOCAL_IMAGE from the image step, Argo CD
    installed): docker and kubectl are fakes, GitHub's install.yaml a local stand-in pinned in
    params; the service is real and wants a bearer token: the e2e creates the tokens Secret,
    wait and smoke send the token."""
    server = guarded_server
    monkeypatch.delenv("MLAPP_API_TOKEN", raising=False)
    with pytest.raises(StateError, match=r"/metadata answers 401: set \$MLAPP_API_TOKEN"):
        served_version(server, time.monotonic() + 60)  # no token: a clear error at once, not at the deadline
    monkeypatch.setenv("MLAPP_API_TOKEN", "e2e-token")  # what the Secret below must carry
    install_yaml = "apiVersion: v1\nkind: List\nitems: []\n"  # Argo CD's, at the pinned commit
    fetched: list[str] = []
    monkeypatch.setattr(
        cluster_module.httpx,
        "get",
        lambda url, **_kw: (
            fetched.append(url) or httpx.Response(200, text=install_yaml, request=httpx.Request("GET", url))
        ),
    )
    params = released / "params.yaml"
    pinned = load_params(params).delivery.argocd.install_sha256
    params.write_text(
        params.read_text()
        .replace(pinned, hashlib.sha256(install_yaml.encode()).hexdigest())
        .replace("repo_url: null", "repo_url: https://github.com/acme/churn.git")
    )
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
if [ "$*" = "apply -f - --dry-run=server" ]; then cat > "{tmp_path}/applications.yaml"; fi
if [ "$*" = "apply -n argocd -f - --server-side --force-conflicts" ]; then cat > "{tmp_path}/argocd.yaml"; fi
if [ "$1" = port-forward ]; then echo "Forwarding from 127.0.0.1:{port} -> 3000"; exec sleep 300; fi
""",
    )
    monkeypatch.setenv("PATH", path_with(docker))
    monkeypatch.delenv("MLAPP_IMAGE_ENGINE", raising=False)  # a runner: auto finds docker's engine
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")  # kind-action's cluster
    argv, env = command("kind.yml", "e2e", "make e2e", {"steps.image.outputs.image": "mlapp:local"})
    assert env == {"LOCAL_IMAGE": "mlapp:local"}
    (recipe,) = make_recipe(argv[1], cwd=released)  # `$(RUN) mlapp delivery e2e`
    assert recipe[0] == "mlapp", recipe
    code, out = mlapp(*recipe[1:], env=env)
    assert code == 0, out
    assert "3/6 Argo CD v" in out and f"6/6 {FIRST} on the cluster serves model" in out, out
    assert (tmp_path / "docker.log").read_text().splitlines() == [
        "info",  # --engine auto: docker, since its engine answers
        "tag mlapp:local kind-registry:5000/mlapp:e2e",
        "push kind-registry:5000/mlapp:e2e",
        "inspect --format {{json .RepoDigests}} kind-registry:5000/mlapp:e2e",
    ]
    calls = (tmp_path / "kubectl.log").read_text().splitlines()
    assert calls[0] == "config view" and calls[1].startswith("apply -k infra/bootstrap")  # KUBE_CONFIG loads
    # Argo CD at the pinned commit, its CRDs established, our Applications validated by the API server
    assert fetched == [cluster_module.INSTALL_URL.format(commit=load_params(params).delivery.argocd.commit)]
    assert (tmp_path / "argocd.yaml").read_text() == install_yaml
    crds = "crd/applications.argoproj.io crd/appprojects.argoproj.io"
    assert f"wait --for=condition=Established --timeout=120s {crds}" in calls
    assert "apply -k infra/bootstrap --dry-run=server" in calls
    apps = [o for o in yaml.safe_load_all((tmp_path / "applications.yaml").read_text()) if o]
    assert [o["metadata"]["name"] for o in apps if o["kind"] == "Application"] == [
        f"mlapp-{env}" for env in ENVIRONMENTS
    ]
    assert {o["spec"]["source"]["repoURL"] for o in apps if o["kind"] == "Application"} == {
        "https://github.com/acme/churn.git"
    }
    apply = next(c for c in calls if c.startswith(f"apply -n mlapp-{FIRST}"))
    assert apply.endswith("--prune --applyset=configmaps/mlapp-applyset")
    assert f"port-forward -n mlapp-{FIRST} svc/mlapp :3000" in calls
    secret = json.loads((tmp_path / "secret.json").read_text())  # the one infra/base mounts
    assert (secret["kind"], secret["metadata"]) == (
        "Secret",
        {"namespace": f"mlapp-{FIRST}", "name": "mlapp-api-tokens"},
    )
    assert secret["stringData"] == {"tokens": "e2e-token"}
    # Recorded on a LOCAL deploy branch only, like a real deploy, by the digest the registry gave.
    shown = sh("git", "show", f"deploy:{FIRST}/manifests.yaml", cwd=released).stdout
    assert f"image: kind-registry:5000/mlapp@{pushed}" in shown
    assert sh("git", "ls-remote", "origin", "deploy", cwd=released).stdout == ""
