"""Kubernetes: render overlays, validate them offline, apply, wait, and reach the service.

Rendering is ``kubectl kustomize`` (kustomize 5 ships inside kubectl). Validation uses the
JSON schemas bundled in the ``kubernetes-validate`` package (no network), plus the
hardening rules this template promises (non-root, read-only root filesystem, probes...),
which a schema cannot express.

Cluster access, in CI: ``KUBE_CONFIG`` (an environment secret holding a kubeconfig, plain
or base64) is written to a private temporary file for the duration of the command; or a
cloud login step (OIDC) has already set ``KUBECONFIG``. See docs/github-setup.md.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mlapp.errors import UserError

PORT_FORWARD_RE = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")
DIGEST_IMAGE_RE = re.compile(r"@sha256:[0-9a-f]{64}$")


class KubeError(UserError, RuntimeError):
    pass


def kubectl(*args: str, env: Mapping[str, str] | None = None, timeout: float | None = None) -> str:
    if shutil.which("kubectl") is None:
        raise KubeError("kubectl not found on PATH (CI installs it with Azure/setup-kubectl)")
    done = subprocess.run(
        ["kubectl", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise KubeError(f"kubectl {' '.join(args)} failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def render(overlay: Path) -> list[dict[str, Any]]:
    text = kubectl("kustomize", str(overlay))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def schema_errors(objects: list[dict[str, Any]], version: str) -> list[str]:
    """Every object against the strict Kubernetes ``version`` schema (unknown fields fail)."""
    try:
        import kubernetes_validate
    except ImportError as exc:  # pragma: no cover - present in the locked dev environment
        raise KubeError("kubernetes-validate is missing: run `uv sync` (it is a dev dependency)") from exc
    errors = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            errors.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    return errors


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def policy_errors(objects: list[dict[str, Any]], require_digest: bool) -> list[str]:
    """The hardening this template promises, checked on the rendered output."""
    errors: list[str] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    deployments = by_kind.get("Deployment", [])
    if not deployments:
        errors.append("no Deployment rendered")
    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext", {})
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"Deployment/{name}: pod seccompProfile must be RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            errors.append(f"Deployment/{name}: automountServiceAccountToken must be false")
        for c in _containers(dep):
            where = f"Deployment/{name} container {c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
                errors.append(f"{where}: runAsNonRoot must be true")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation must be false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                errors.append(f"{where}: capabilities must drop ALL")
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                if "memory" not in resources.get(kind, {}):
                    errors.append(f"{where}: resources.{kind}.memory is required")
            if "cpu" not in resources.get("requests", {}):
                errors.append(f"{where}: resources.requests.cpu is required (the HPA scales on it)")
            for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
                if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                    errors.append(f"{where}: {probe} must GET {path}")
            if require_digest and not DIGEST_IMAGE_RE.search(c.get("image", "")):
                errors.append(f"{where}: image {c.get('image')!r} is not pinned by digest")
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        for svc in by_kind.get("Service", []):
            selector = svc["spec"].get("selector", {})
            if not selector.items() <= labels.items():
                errors.append(f"Service/{svc['metadata']['name']}: selector {selector} matches no pod")
    names = {d["metadata"]["name"] for d in deployments}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] not in names:
            errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: target is not rendered")
    if deployments and "PodDisruptionBudget" not in by_kind:
        errors.append("no PodDisruptionBudget rendered")
    return errors


def check_overlay(overlay: Path, version: str, require_digest: bool = False) -> list[str]:
    objects = render(overlay)
    return schema_errors(objects, version) + policy_errors(objects, require_digest)


def deployment_of(objects: list[dict[str, Any]], name: str) -> tuple[str, str]:
    """(namespace, name) of the app's Deployment in a rendered overlay."""
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == name:
            return obj["metadata"].get("namespace", "default"), name
    raise KubeError(f"the overlay renders no Deployment named {name!r} (params delivery.app)")


def service_port(objects: list[dict[str, Any]], name: str) -> int:
    for obj in objects:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == name:
            return int(obj["spec"]["ports"][0]["port"])
    raise KubeError(f"the overlay renders no Service named {name!r} (params delivery.app)")


@contextmanager
def cluster_env(environ: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Environment for kubectl: ``KUBE_CONFIG`` as a private file, else whatever is configured."""
    env = os.environ if environ is None else environ
    content = env.get("KUBE_CONFIG", "").strip()
    if not content:
        yield {}
        return
    if not content.startswith(("apiVersion", "{", "clusters", "kind", "current-context")):
        try:
            content = base64.b64decode(content, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise KubeError("KUBE_CONFIG is neither a kubeconfig nor base64 of one") from exc
    with tempfile.TemporaryDirectory(prefix="mlapp-kube-") as tmp:
        path = Path(tmp) / "config"
        path.touch(mode=0o600)
        path.write_text(content if content.endswith("\n") else content + "\n")
        yield {"KUBECONFIG": str(path)}


def apply(overlay: Path, namespace: str, name: str, timeout_s: int, env: Mapping[str, str]) -> str:
    """Apply the overlay and wait until the new pods are ready (or fail after ``timeout_s``)."""
    out = kubectl("apply", "-k", str(overlay), env=env, timeout=120)
    out += kubectl(
        "rollout",
        "status",
        f"deployment/{name}",
        "-n",
        namespace,
        f"--timeout={timeout_s}s",
        env=env,
        timeout=timeout_s + 30,
    )
    return out


@contextmanager
def port_forward(namespace: str, service: str, port: int, env: Mapping[str, str]) -> Iterator[str]:
    """A local URL to the Service, for the smoke test when the cluster has no public endpoint."""
    proc = subprocess.Popen(
        ["kubectl", "port-forward", "-n", namespace, f"svc/{service}", f":{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 30
        if proc.stdout is None:  # pragma: no cover - stdout=PIPE always gives a pipe
            raise KubeError("kubectl port-forward has no output pipe")
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = PORT_FORWARD_RE.search(line)
            if match:
                yield f"http://127.0.0.1:{match.group(1)}"
                return
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        raise KubeError(f"kubectl port-forward to svc/{service} in {namespace} did not start: {err.strip()}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
