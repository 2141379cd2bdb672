"""Argo CD objects for every environment of params, the pinned install, and the bootstrap.

One ``AppProject`` (this repository, these namespaces, no cluster-scoped objects) and one
``Application`` per environment in ``delivery.environments``: the environment's folder of
the deploy branch, automated sync with prune and self-heal. ``infra/argocd/applications.yaml``
is this module's output, committed; ``mlapp delivery check-manifests`` fails when it and
params disagree. ``bootstrap`` applies them to a cluster that already runs Argo CD.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from mlapp import proc
from mlapp.delivery.github import remote_repo
from mlapp.delivery.state import StateError
from mlapp.params import DeliveryParams

IN_CLUSTER = "https://kubernetes.default.svc"
REPO_PLACEHOLDER = "https://github.com/OWNER/REPO.git"  # until params delivery.argocd.repo_url is set
FILE = Path("argocd/applications.yaml")  # under delivery.infra_dir
INSTALL_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/{commit}/manifests/install.yaml"


def https_url(remote: str) -> str:
    """``git@github.com:o/r.git`` and ``https://github.com/o/r`` -> ``https://github.com/o/r.git``."""
    if not (found := remote_repo(remote)):
        raise StateError(
            f"cannot derive an https URL for Argo CD from {remote!r}: set delivery.argocd.repo_url"
        )
    return f"https://{found[0]}/{found[1]}.git"


def namespace(delivery: DeliveryParams, env: str, root: Path = Path()) -> str:
    """The namespace the environment's overlay puts everything in."""
    path = root / delivery.infra_dir / "overlays" / env / "kustomization.yaml"
    found = (yaml.safe_load(path.read_text()) or {}).get("namespace") if path.is_file() else None
    if not found:
        raise StateError(f"{path} must set `namespace:` (the Application's destination)")
    return str(found)


def objects(
    delivery: DeliveryParams, repo_url: str | None = None, root: Path = Path()
) -> list[dict[str, Any]]:
    cfg, app = delivery.argocd, delivery.app
    repo = repo_url or cfg.repo_url or REPO_PLACEHOLDER
    labels = {"app.kubernetes.io/part-of": app}
    namespaces = {env: namespace(delivery, env, root) for env in delivery.environments}
    project = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": app, "namespace": cfg.namespace, "labels": labels},
        "spec": {
            "description": f"{app}: the deploy branch's environment folders, nothing cluster-scoped",
            "sourceRepos": [repo],
            "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in namespaces.values()],
        },
    }  # fmt: skip
    finalizers = ["resources-finalizer.argocd.argoproj.io"]  # deleting an Application deletes its objects
    apps = [
        {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": f"{app}-{env}", "namespace": cfg.namespace, "labels": labels,
                         "finalizers": finalizers},
            "spec": {
                "project": app,
                "source": {"repoURL": repo, "targetRevision": delivery.state_branch, "path": env},
                "destination": {"server": IN_CLUSTER, "namespace": ns},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    # Namespaces come from infra/bootstrap (Pod Security labels); prune after new pods are up.
                    "syncOptions": ["CreateNamespace=false", "PruneLast=true"],
                    "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
                },
                "revisionHistoryLimit": 10,
            },
        }
        for env, ns in namespaces.items()
    ]  # fmt: skip
    return [project, *apps]


def render(delivery: DeliveryParams, repo_url: str | None = None, root: Path = Path()) -> str:
    header = "# Generated from params.yaml (delivery) by `mlapp delivery argocd --write`: do not edit.\n"
    return header + yaml.safe_dump_all(objects(delivery, repo_url, root), sort_keys=False)


def check(delivery: DeliveryParams, root: Path = Path()) -> list[str]:
    """Why the committed Applications disagree with params (empty: they agree)."""
    path = root / delivery.infra_dir / FILE
    if not path.is_file():
        return [f"{path} is missing: run `mlapp delivery argocd --write`"]
    committed = [o for o in yaml.safe_load_all(path.read_text()) if o]
    errors = (
        []
        if committed == objects(delivery, root=root)
        else [f"{path} disagrees with params.yaml (delivery): run `mlapp delivery argocd --write`"]
    )
    for obj in committed:
        if obj.get("kind") == "Application":
            policy = obj.get("spec", {}).get("syncPolicy", {}).get("automated", {})
            if policy.get("prune") is not True or policy.get("selfHeal") is not True:
                errors.append(
                    f"{path}: Application {obj['metadata'].get('name')} needs automated prune + selfHeal"
                )
    return errors


def install_manifest(delivery: DeliveryParams) -> str:
    """Argo CD's install.yaml at the pinned commit, refused unless its sha256 matches params."""
    cfg = delivery.argocd
    text = (
        httpx.get(INSTALL_URL.format(commit=cfg.commit), timeout=60, follow_redirects=True)
        .raise_for_status()
        .text
    )
    actual = hashlib.sha256(text.encode()).hexdigest()
    if actual != cfg.install_sha256:
        raise StateError(
            f"Argo CD {cfg.version} install.yaml has sha256 {actual}, params pin {cfg.install_sha256}"
        )
    return text


def apply_text(text: str, namespace: str | None, env: Mapping[str, str], *extra: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(text)
        handle.flush()
        argv = ["kubectl", "apply", *(["-n", namespace] if namespace else []), "-f", handle.name, *extra]
        return proc.run(argv, env=env, timeout=300).stdout


def install(delivery: DeliveryParams, env: Mapping[str, str]) -> str:
    """Install the pinned Argo CD (server-side apply: its CRDs exceed the client-side annotation limit)."""
    ns = delivery.argocd.namespace
    out = proc.run(["kubectl", "create", "namespace", ns], env=env, check=False).stdout
    out += apply_text(install_manifest(delivery), ns, env, "--server-side", "--force-conflicts")
    crds = ["crd/applications.argoproj.io", "crd/appprojects.argoproj.io"]
    wait = ["kubectl", "wait", "--for=condition=Established", "--timeout=120s", *crds]
    return out + proc.run(wait, env=env, timeout=150).stdout
