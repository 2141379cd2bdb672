"""Kubernetes: render overlays, validate offline, reach the cluster and the service.

Rendering is ``kubectl kustomize`` (kustomize ships inside kubectl). Validation uses the JSON
schemas bundled in ``kubernetes-validate`` (no network) plus the hardening this template
promises, which a schema cannot express. Cluster access: ``KUBE_CONFIG`` (a kubeconfig, plain
or base64) or ``KUBECONFIG``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mlapp import proc
from mlapp.delivery.state import IMAGE_RE, StateError

Obj = dict[str, Any]
PORT_FORWARD_RE = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


def kubectl(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 300
) -> str:
    """kubectl's output, without its last newline; objects to apply go in as ``input`` (``-f -``)."""
    return proc.run(["kubectl", *args], env=env, input=input, timeout=timeout).stdout.removesuffix("\n")


def render(overlay: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(overlay))) if doc]


def pin_image(objects: list[Obj], placeholder: str, image: str) -> list[Obj]:
    """``objects``, changed in place: every container image ``placeholder`` becomes ``image``."""
    for container in (c for obj in objects for c in containers(obj) if c.get("image") == placeholder):
        container["image"] = image
    return objects


def key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def containers(obj: Obj) -> list[Obj]:
    """Containers of a workload's pod template (a CronJob's one level deeper)."""
    spec = obj.get("spec", {})
    spec = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def schema_errors(objects: list[Obj], version: str) -> list[str]:
    """Every object against the strict Kubernetes ``version`` schema (unknown fields fail)."""
    import kubernetes_validate  # dev dependency; only the offline checks need it

    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{key(obj)}: {'/'.join(str(p) for p in exc.path)}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{key(obj)}: {exc.message}")
    return errors


def _container_errors(where: str, c: Obj, pod_sc: Obj, require_digest: bool) -> list[str]:
    sc, res, image = c.get("securityContext", {}), c.get("resources", {}), c.get("image", "")
    path = {p: c.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe")}
    wanted = {
        "runAsNonRoot must be true": sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
        "readOnlyRootFilesystem must be true": sc.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation must be false": sc.get("allowPrivilegeEscalation") is False,
        "capabilities must drop ALL": "ALL" in sc.get("capabilities", {}).get("drop", []),
        "resources.requests.memory is required": "memory" in res.get("requests", {}),
        "resources.limits.memory is required": "memory" in res.get("limits", {}),
        "resources.requests.cpu is required (the HPA scales on it)": "cpu" in res.get("requests", {}),
        "livenessProbe must GET /livez": path["livenessProbe"] == "/livez",
        "readinessProbe must GET /readyz": path["readinessProbe"] == "/readyz",
        f"image {image!r} is not pinned by digest": not require_digest or bool(IMAGE_RE.fullmatch(image)),
    }
    return [f"{where}: {problem}" for problem, ok in wanted.items() if not ok]


def policy_errors(objects: list[Obj], require_digest: bool) -> list[str]:
    """The hardening this template promises, checked on the rendered output."""
    deployments = of_kind(objects, "Deployment")
    errors = [] if deployments else ["no Deployment rendered"]
    for dep in deployments:
        name, pod = dep["metadata"]["name"], dep["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"Deployment/{name}: pod seccompProfile must be RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            errors.append(f"Deployment/{name}: automountServiceAccountToken must be false")
        for c in containers(dep):
            errors += _container_errors(f"Deployment/{name} container {c['name']}", c, pod_sc, require_digest)
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        for svc in of_kind(objects, "Service"):
            if not svc["spec"].get("selector", {}).items() <= labels.items():
                errors.append(f"Service/{svc['metadata']['name']}: selector matches no pod")
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] not in {d["metadata"]["name"] for d in deployments}:
            errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: target is not rendered")
    if deployments and not of_kind(objects, "PodDisruptionBudget"):
        errors.append("no PodDisruptionBudget rendered")
    return errors


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    if found := [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]:
        return found[0]
    raise StateError(f"the manifests render no {kind} named {name!r} (params delivery.app)")


@contextmanager
def cluster_env() -> Iterator[dict[str, str] | None]:
    """``KUBE_CONFIG`` as a private kubeconfig file, else the caller's own; None: no cluster."""
    if not (content := os.environ.get("KUBE_CONFIG", "").strip()):
        yield {} if os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().is_file() else None
        return
    if ":" not in content:  # a kubeconfig (YAML or JSON) has one; base64, even wrapped, never does
        try:
            content = base64.b64decode("".join(content.split()), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise StateError("KUBE_CONFIG is neither a kubeconfig nor base64 of one") from exc
    with tempfile.TemporaryDirectory(prefix="mlapp-kube-") as tmp:
        path = Path(tmp) / "config"  # private: mkdtemp makes the folder 0700
        path.write_text(content + "\n")
        config = {"KUBECONFIG": str(path)}
        # Loaded by kubectl now (no cluster asked), so that a broken one is named as the variable,
        # not as a temporary file in the middle of whatever command needed the cluster.
        if (view := proc.run(["kubectl", "config", "view"], env=config, check=False)).returncode:
            reason = view.stderr.strip().replace(str(path), "KUBE_CONFIG")
            raise StateError(f"KUBE_CONFIG (the variable) is not a kubeconfig kubectl can load: {reason}")
        yield config


@contextmanager
def cluster(why: str) -> Iterator[dict[str, str]]:
    """``cluster_env()``, required: ``why`` says what the command needs a cluster for."""
    with cluster_env() as config:
        if config is None:
            raise StateError(f"no cluster: {why}")
        yield config


@contextmanager
def port_forward(namespace: str, service: str, port: int, env: Mapping[str, str]) -> Iterator[str]:
    """A local URL to the Service for as long as the block runs (a background ``kubectl``)."""
    argv = ["kubectl", "port-forward", "-n", namespace, f"svc/{service}", f":{port}"]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdout=pipe, stderr=pipe, text=True, env=proc.environment(env)) as child:
        try:
            for line in child.stdout or ():  # kubectl prints this once it listens, or exits
                if match := PORT_FORWARD_RE.search(line):
                    for stream in filter(None, (child.stdout, child.stderr)):  # a line per connection: drain
                        threading.Thread(target=stream.read, daemon=True).start()
                    yield f"http://127.0.0.1:{match.group(1)}"
                    return
            err = (child.stderr.read() if child.stderr else "").strip()
            raise StateError(f"kubectl port-forward to svc/{service} in {namespace} did not start: {err}")
        finally:
            child.kill()  # nothing to clean up: it only relays connections
