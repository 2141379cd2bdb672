"""Argo CD objects for every environment of params, the pinned install, and the bootstrap.

One ``AppProject`` (this repository, these namespaces, no cluster-scoped objects) and one
``Application`` per environment in ``delivery.environments``: the environment's folder of
the deploy branch, automated sync with prune and self-heal. ``infra/argocd/applications.yaml``
is this module's output, committed; ``mlapp delivery check-manifests`` fails when it and
params disagree. ``bootstrap`` applies them to a cluster that already runs Argo CD.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from mlapp import proc
from mlapp.delivery.github import remote_repo
from mlapp.delivery.kube import kubectl
from mlapp.delivery.state import StateError
from mlapp.params import DeliveryParams

IN_CLUSTER = "https://kubernetes.default.svc"
REPO_PLACEHOLDER = "https://github.com/OWNER/REPO.git"  # until params delivery.argocd.repo_url is set
FILE = Path("argocd/applications.yaml")  # under delivery.infra_dir
INSTALL_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/{commit}/manifests/install.yaml"


def repo_url(delivery: DeliveryParams, explicit: str | None = None) -> str:
    """``explicit``, params, else the https form of the git remote (``git@host:o/r`` too)."""
    if url := explicit or delivery.argocd.repo_url:
        return url
    remote = proc.output(["git", "remote", "get-url", delivery.remote])
    if not (found := remote_repo(remote)):
        raise StateError(f"no https URL for Argo CD from {remote!r}: set delivery.argocd.repo_url")
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
    """Why the committed objects disagree with params (they always sync with prune + self-heal)."""
    path = root / delivery.infra_dir / FILE
    if not path.is_file():
        return [f"{path} is missing: run `mlapp delivery argocd --write`"]
    if [o for o in yaml.safe_load_all(path.read_text()) if o] != objects(delivery, root=root):
        return [f"{path} disagrees with params.yaml (delivery): run `mlapp delivery argocd --write`"]
    return []


def install(delivery: DeliveryParams, config: Mapping[str, str]) -> None:
    """The pinned Argo CD: install.yaml at its commit, refused unless its sha256 matches params
    (server-side apply: its CRDs exceed the client-side annotation limit)."""
    cfg = delivery.argocd
    response = httpx.get(INSTALL_URL.format(commit=cfg.commit), timeout=60, follow_redirects=True)
    text = response.raise_for_status().text
    if (actual := hashlib.sha256(text.encode()).hexdigest()) != cfg.install_sha256:
        raise StateError(
            f"Argo CD {cfg.version} install.yaml has sha256 {actual}, params pin {cfg.install_sha256}"
        )
    proc.run(["kubectl", "create", "namespace", cfg.namespace], env=config, check=False)  # exists: fine
    side = ["--server-side", "--force-conflicts"]
    click.echo(kubectl("apply", "-n", cfg.namespace, "-f", "-", *side, env=config, input=text))
    crds = ["crd/applications.argoproj.io", "crd/appprojects.argoproj.io"]
    click.echo(kubectl("wait", "--for=condition=Established", "--timeout=120s", *crds, env=config))
    click.echo(f"Argo CD {cfg.version} installed in namespace {cfg.namespace}")


def bootstrap(delivery: DeliveryParams, url: str | None, config: Mapping[str, str], dry_run: bool) -> None:
    """Namespaces (``infra/bootstrap``), then the project and Applications pulling ``url``."""
    extra = ["--dry-run=server"] if dry_run else []
    click.echo(kubectl("apply", "-k", str(delivery.infra_dir / "bootstrap"), *extra, env=config))
    apps = render(delivery, repo_url(delivery, url))
    click.echo(kubectl("apply", "-f", "-", *extra, env=config, input=apps))
