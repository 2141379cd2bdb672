"""Every overlay renders and validates offline; the checks catch what they promise to catch."""

from __future__ import annotations

import copy
import functools
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import REPO, sh
from tests.delivery.conftest import FIRST, LAST, bin_dir, path_with

from mlapp.delivery import cluster as argocd
from mlapp.delivery import kube
from mlapp.image.pod import quantity
from mlapp.params import load_params
from mlapp.schema import FEATURES
from mlapp.serving.pod_memory import admitted
from mlapp.serving.settings import body_budget, body_cap, worker_count

PARAMS = load_params(REPO / "params.yaml")
OVERLAYS = [REPO / PARAMS.delivery.infra_dir / "overlays" / env for env in PARAMS.delivery.environments]


@functools.cache
def _render_once(folder: Path) -> list[kube.Obj]:
    return kube.render(folder)


def render_repo(folder: Path) -> list[kube.Obj]:
    """``kube.render(folder)`` of a folder of this repository, which no test edits: kubectl runs
    once per folder in this module (test_overlay_renders_and_validates runs it every time), and
    each caller gets a copy of its own to change."""
    assert folder.is_relative_to(REPO), folder
    return copy.deepcopy(_render_once(folder))


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_renders_and_validates(overlay: Path) -> None:
    start = time.perf_counter()
    objects = kube.render(overlay)
    errors = kube.schema_errors(objects, PARAMS.delivery.kubernetes_version)
    errors += kube.policy_errors(objects, require_digest=False)
    elapsed = time.perf_counter() - start
    assert errors == []
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    namespaces = {o["metadata"]["namespace"] for o in objects}
    assert namespaces == {f"mlapp-{overlay.name}"}
    print(f"{overlay.name}: {len(objects)} objects rendered + validated in {elapsed:.2f}s")


def test_environments_differ_only_where_intended() -> None:
    staging, production = (
        {o["kind"]: o for o in render_repo(overlay)} for overlay in (OVERLAYS[0], OVERLAYS[-1])
    )
    assert (
        staging["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
        < production["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    )
    # Same probes, same security context: staging tests what production runs.
    s_pod = staging["Deployment"]["spec"]["template"]["spec"]
    p_pod = production["Deployment"]["spec"]["template"]["spec"]
    assert s_pod["securityContext"] == p_pod["securityContext"]
    for key in (
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "securityContext",
        "volumeMounts",
        "ports",
    ):
        assert s_pod["containers"][0][key] == p_pod["containers"][0][key]
    # The HPA owns the replica count: a deploy must not reset a scaled-out production.
    assert "replicas" not in production["Deployment"]["spec"]


def test_writable_paths_are_emptydirs_and_env_points_there() -> None:
    deployment = next(o for o in render_repo(OVERLAYS[-1]) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert mounts[env["BENTOML_HOME"]] in empty and mounts[env["TMPDIR"]] in empty
    assert mounts[str(Path(env["MLAPP_PREDICTION_LOG"]).parent)] in empty
    assert container["ports"][0]["containerPort"] == 3000


def test_the_prediction_log_volume_holds_the_log_and_its_rotated_copy() -> None:
    """The log without a volume was turned off at start-up (read-only root); one too small for
    the log and its ``.1`` would get the pod evicted by its own sampling."""
    deployment = next(o for o in render_repo(OVERLAYS[-1]) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/var/log/mlapp")
    assert env["MLAPP_PREDICTION_LOG"].startswith(mount["mountPath"] + "/")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    limit = quantity(volume["emptyDir"]["sizeLimit"])
    # a full log, its .1, and one batch written past the size before it moved (a line: the
    # request's row, at most max_row_bytes, and the id, time and prediction fields)
    batch = PARAMS.serving.log_buffer_rows * (body_cap(PARAMS.serving).row_bytes + 256)
    assert limit >= 2 * PARAMS.serving.log_max_bytes + batch


# The bound (idle, per worker its slots' rows and its bodies) is the server's own start check's
# (mlapp.serving.pod_memory, which refuses a limit below it); the shipped overlays keep a margin.
HEADROOM = 0.25  # of the limit left over at the bound: allocator slack, a replaced worker's start


def workers_of(container: dict[str, Any]) -> int:
    """``serving.workers`` as the pod runs it: auto is the CPU limit, rounded up."""
    cpus = quantity(container["resources"]["limits"]["cpu"])
    return worker_count(PARAMS.serving.workers, cpus, math.ceil(cpus))


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_the_memory_limit_holds_the_requests_in_flight_with_headroom(overlay: Path) -> None:
    """Per worker, requests in flight hold their rows (at most BentoML's share of max_concurrency,
    ceil(max_concurrency / workers), each of max_rows) and their bodies' bytes (at most
    serving.max_body_bytes_in_flight, and never more than the slots' bodies at the cap)."""
    deployment = next(o for o in render_repo(overlay) if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    limit = quantity(container["resources"]["limits"]["memory"])
    workers, cap = workers_of(container), body_cap(PARAMS.serving)
    bound = admitted(PARAMS.serving, workers, cap, len(FEATURES), body_budget(PARAMS.serving, cap).limit)
    assert bound.total <= (1 - HEADROOM) * limit, (
        f"{overlay.name}: {bound.said()} of a {limit / 2**20:.0f} MiB "
        "limit: lower serving.max_body_bytes_in_flight or max_concurrency, or raise the limit"
    )


def pre_stop_sleep_s(container: dict[str, Any]) -> int:
    return int(container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0))


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_the_pre_stop_sleep_outlasts_endpoint_removal_within_the_grace_period(overlay: Path) -> None:
    """After SIGTERM the server accepts no new connection, and endpoint removal lags the pod's
    deletion: the kubelet's sleep keeps it serving meanwhile. The grace period counts the sleep,
    so a request admitted at its end still has serving.timeout_s to be answered."""
    deployment = next(o for o in render_repo(overlay) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    sleep_s = pre_stop_sleep_s(pod["containers"][0])
    assert 3 <= sleep_s <= 10
    assert sleep_s + PARAMS.serving.timeout_s < pod["terminationGracePeriodSeconds"]


def test_the_sleep_action_is_in_the_kubernetes_version_the_manifests_target() -> None:
    """``lifecycle.preStop.sleep`` is the kubelet's own (beta and on by default since 1.30): no
    sleep binary needed in the image. An older cluster refuses the Deployment; the offline schema
    validation does not catch that (its 1.29 schema has the field), this does."""
    major, minor = (int(part) for part in PARAMS.delivery.kubernetes_version.split(".")[:2])
    uses_sleep = any(
        pre_stop_sleep_s(o["spec"]["template"]["spec"]["containers"][0])
        for overlay in OVERLAYS
        for o in render_repo(overlay)
        if o["kind"] == "Deployment"
    )
    assert uses_sleep and (major, minor) >= (1, 30)


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    return tmp_path / "infra"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def check_overlay(overlay: Path, require_digest: bool = False) -> list[str]:
    objects = kube.render(overlay)
    version = PARAMS.delivery.kubernetes_version
    return kube.schema_errors(objects, version) + kube.policy_errors(objects, require_digest)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "readOnlyRootFilesystem must be true",
        ),
        ('drop: ["ALL"]', 'drop: ["NET_RAW"]', "capabilities must drop ALL"),
        ("path: /livez", "path: /healthz", "livenessProbe must GET /livez"),
        ("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot must be true"),
        ("type: RuntimeDefault", "type: Unconfined", "seccompProfile must be RuntimeDefault"),
        ("\n              memory: 1Gi", "", "resources.limits.memory is required"),
        ("imagePullPolicy: IfNotPresent", "imagePullPolicy: IfNotPresent\n          colour: blue", "colour"),
        ("containerPort: 3000", 'containerPort: "3000"', "containerPort"),
    ],
)
def test_checks_catch_broken_manifests(infra_copy: Path, old: str, new: str, expected: str) -> None:
    _edit(infra_copy / "base/deployment.yaml", old, new)
    errors = check_overlay(infra_copy / f"overlays/{LAST}")
    assert any(expected in e for e in errors), errors


def test_service_selector_must_match_pods(infra_copy: Path) -> None:
    _edit(
        infra_copy / "base/service.yaml",
        "app.kubernetes.io/component: api",
        "app.kubernetes.io/component: web",
    )
    errors = check_overlay(infra_copy / f"overlays/{FIRST}")
    assert any("matches no pod" in e for e in errors), errors


def test_deployed_state_requires_a_digest() -> None:
    errors = check_overlay(OVERLAYS[0], require_digest=True)
    assert any("not pinned by digest" in e for e in errors)


def test_check_manifests_command(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "check-manifests")
    assert code == 0, out
    assert out.count(": valid") == len(OVERLAYS) + 2  # + infra/bootstrap + infra/argocd


def test_bootstrap_grants_the_deployer_exactly_what_the_overlays_need() -> None:
    """Each rendered kind can be applied, in the namespace it renders into, and nothing else."""
    objects = render_repo(REPO / "infra/bootstrap")
    assert kube.schema_errors(objects, PARAMS.delivery.kubernetes_version) == []
    roles = {o["metadata"]["namespace"]: o["rules"] for o in objects if o["kind"] == "Role"}
    spaces = [render_repo(overlay)[0]["metadata"]["namespace"] for overlay in OVERLAYS]
    stale = sorted(set(roles) - set(spaces))  # an environment removed from params: apply -k would fail
    assert not stale, (
        f"infra/bootstrap: deployer Roles in {stale}, no environment's: remove their deployer-<env>.yaml"
    )
    for overlay in OVERLAYS:
        rendered = render_repo(overlay)
        namespace = rendered[0]["metadata"]["namespace"]
        assert namespace in roles, (
            f"infra/bootstrap: no mlapp-deployer Role in {namespace} (a deployer-<env>.yaml)"
        )
        rules = roles[namespace]
        for obj in rendered:
            group = obj["apiVersion"].rpartition("/")[0]
            plural = {
                "Deployment": "deployments",
                "Service": "services",
                "ServiceAccount": "serviceaccounts",
                "HorizontalPodAutoscaler": "horizontalpodautoscalers",
                "PodDisruptionBudget": "poddisruptionbudgets",
                "NetworkPolicy": "networkpolicies",
            }[obj["kind"]]
            assert any(
                group in r["apiGroups"]
                and plural in r["resources"]
                and {"create", "patch", "delete", "list"} <= set(r["verbs"])  # push mode prunes
                for r in rules
            ), f"{namespace}: cannot apply {obj['kind']}"
        assert any("pods/portforward" in r["resources"] for r in rules)
        assert any(
            "configmaps" in r["resources"] and "patch" in r["verbs"] for r in rules
        )  # the ApplySet parent
    for rules in roles.values():  # no cluster-wide or secret access
        assert not any("secrets" in r["resources"] or "*" in r["verbs"] for r in rules)


def test_bootstrap_namespaces_are_the_environments_of_params() -> None:
    objects = render_repo(REPO / "infra/bootstrap")
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert namespaces == {
        argocd.namespace(PARAMS.delivery, env, REPO) for env in PARAMS.delivery.environments
    }


def test_one_argocd_application_per_environment_with_prune_and_self_heal() -> None:
    assert argocd.check(PARAMS.delivery, REPO) == []
    text = (REPO / PARAMS.delivery.infra_dir / argocd.FILE).read_text()
    objects = [o for o in yaml.safe_load_all(text) if o]
    apps = {o["spec"]["source"]["path"]: o for o in objects if o["kind"] == "Application"}
    assert list(apps) == PARAMS.delivery.environments
    for env, app in apps.items():
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["spec"]["project"] == PARAMS.delivery.app
        assert app["spec"]["source"]["targetRevision"] == PARAMS.delivery.state_branch
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert app["spec"]["destination"]["namespace"] == f"mlapp-{env}"
    (project,) = [o for o in objects if o["kind"] == "AppProject"]
    assert {d["namespace"] for d in project["spec"]["destinations"]} == {f"mlapp-{e}" for e in apps}
    assert "clusterResourceWhitelist" not in project["spec"]  # nothing cluster-scoped from git


def test_argocd_objects_that_disagree_with_params_fail_the_check(tmp_path: Path) -> None:
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    envs = PARAMS.delivery.environments
    order = [*envs[:-1], "canary", envs[-1]]  # an environment added before the last one
    overlay = tmp_path / "infra/overlays/canary"
    shutil.copytree(tmp_path / f"infra/overlays/{FIRST}", overlay)
    _edit(overlay / "kustomization.yaml", f"mlapp-{FIRST}", "mlapp-canary")
    three = PARAMS.delivery.model_copy(update={"environments": order})
    errors = argocd.check(three, tmp_path)
    assert f"Applications for {envs}, not {order} (params order)" in errors[0]
    assert f"must allow exactly {sorted(f'mlapp-{e}' for e in order)}" in errors[1]
    path = tmp_path / "infra" / argocd.FILE
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    canary = yaml.safe_load(yaml.safe_dump(objects[1]).replace(FIRST, "canary"))
    objects[0]["spec"]["destinations"].append(canary["spec"]["destination"])
    path.write_text(yaml.safe_dump_all([*objects[:-1], canary, objects[-1]]))
    assert argocd.check(three, tmp_path) == []  # bootstrap's namespaces: check-manifests, under bootstrap
    path.write_text(path.read_text().replace("selfHeal: true", "selfHeal: false", 1))  # hand-edited
    message = f"{path}: Application for {FIRST} needs automated sync with prune and selfHeal"
    assert argocd.check(three, tmp_path) == [message]
    path.write_text(path.read_text().replace("targetRevision: deploy", "targetRevision: main", 1))
    errors = argocd.check(three, tmp_path)
    assert f"{path}: Application for {FIRST} needs targetRevision deploy" in errors


def test_argocd_repo_url_from_the_git_remote(gitops: Path) -> None:
    for remote in ("git@github.com:acme/churn.git", "https://github.com/acme/churn"):
        sh("git", "remote", "set-url", "origin", remote, cwd=gitops)
        assert argocd.repo_url(PARAMS.delivery) == "https://github.com/acme/churn.git"
    assert argocd.repo_url(PARAMS.delivery, "https://example.com/x.git") == "https://example.com/x.git"
    sh("git", "remote", "set-url", "origin", "/tmp/origin.git", cwd=gitops)
    with pytest.raises(argocd.StateError, match=r"set delivery\.argocd\.repo_url"):
        argocd.repo_url(PARAMS.delivery)


def test_the_digest_reaches_every_container_that_runs_the_image() -> None:
    """Deployments and, should an overlay include it, the batch-scoring CronJob."""
    ref = "ghcr.io/acme/churn@sha256:" + "a" * 64
    for folder in (OVERLAYS[0], REPO / "infra/jobs"):
        pinned = kube.pin_image(render_repo(folder), PARAMS.delivery.app, ref)
        images = [c["image"] for o in pinned for c in kube.containers(o)]
        assert images and set(images) == {ref}, folder


def test_port_forward_keeps_reading_kubectl_while_the_block_runs(tmp_path: Path, monkeypatch) -> None:
    """kubectl port-forward prints a line per connection: unread, its pipe fills (64 KiB) and it
    stops forwarding. The fake prints 1 MiB after it listens, then leaves a mark."""
    mark = tmp_path / "all-written"
    script = f"""#!/bin/sh
echo "Forwarding from 127.0.0.1:4321 -> 3000"
head -c 1048576 /dev/zero | tr '\\0' 'x'
echo "error copying" >&2
touch "{mark}"
exec sleep 300
"""
    monkeypatch.setenv("PATH", path_with(bin_dir(tmp_path, "kubectl", script)))
    with kube.port_forward(f"mlapp-{FIRST}", "mlapp", 3000, {}) as url:
        assert url == "http://127.0.0.1:4321"
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "kubectl blocked on a full pipe"


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_an_overlays_comments_stay_true_in_a_copy(overlay: Path) -> None:
    """infra/README.md adds an environment by copying an overlay and changing its namespace, labels
    and sizes, not its comments: they name no environment, so a copy says nothing false of its own."""
    lines = (overlay / "kustomization.yaml").read_text().splitlines()
    comments = " ".join(line.split("#", 1)[1] for line in lines if "#" in line).lower()
    assert [env for env in PARAMS.delivery.environments if env in comments] == []


def test_a_new_environment_in_params_gets_the_files_it_needs_named(gitops: Path, mlapp) -> None:
    """infra/README.md, "Adding an environment", step by step: check-manifests names each missing
    file (never kubectl's error), and passes once the steps are done."""
    envs, app, new = PARAMS.delivery.environments, PARAMS.delivery.app, "canary"
    first, order = envs[0], [*envs[:-1], new, envs[-1]]  # just before the last one
    raw = yaml.safe_load((gitops / "params.yaml").read_text())
    raw["delivery"]["environments"] = order
    (gitops / "params.yaml").write_text(yaml.safe_dump(raw))
    code, out = mlapp("delivery", "check-manifests")
    assert code == 1, out
    missing = f"missing: a copy of overlays/{first} with namespace {app}-{new} (infra/README.md"
    assert f"infra/overlays/{new}: {missing}" in out
    assert f"Applications for {envs}, not {order}" in out
    assert f"must allow exactly {sorted(f'{app}-{e}' for e in order)}" in out
    # Argo CD does not create namespaces (CreateNamespace=false): bootstrap must, and says so itself.
    need = f"infra/bootstrap: must create exactly the namespaces {sorted(f'{app}-{e}' for e in order)}"
    assert need in out.splitlines(), out  # a line of its own, not under infra/argocd
    assert "kubectl" not in out and "Traceback" not in out
    overlay = gitops / "infra/overlays" / new
    shutil.copytree(gitops / "infra/overlays" / first, overlay)
    (overlay / "kustomization.yaml").write_text(
        (overlay / "kustomization.yaml").read_text().replace(first, new)
    )
    namespaces = gitops / "infra/bootstrap/namespaces.yaml"
    docs = [d for d in yaml.safe_load_all(namespaces.read_text()) if d]
    namespaces.write_text(
        yaml.safe_dump_all([*docs, yaml.safe_load(yaml.safe_dump(docs[0]).replace(first, new))])
    )
    apps = gitops / "infra" / argocd.FILE
    objects = [o for o in yaml.safe_load_all(apps.read_text()) if o]
    added = yaml.safe_load(
        yaml.safe_dump(objects[1]).replace(first, new)
    )  # a copy of the first's Application
    objects[0]["spec"]["destinations"].append(added["spec"]["destination"])
    apps.write_text(yaml.safe_dump_all([*objects[:-1], added, objects[-1]]))
    code, out = mlapp("delivery", "check-manifests")
    assert code == 0, out
    assert out.count(": valid") == len(order) + 2
