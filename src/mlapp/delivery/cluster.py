"""Reality: reach the service, wait until it serves the released model, smoke it; the kind e2e run.

Writing the deploy branch only states a wish; the controller (or push mode's apply) makes it
true some time later. ``wait_serving`` polls the service's ``/readyz`` + ``/metadata`` until it
reports the model version of the release, with a deadline; on timeout the message says what
still differs, and what Argo CD reports about the Application when kubectl can reach it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click
import httpx

from mlapp import proc
from mlapp.delivery import argocd, images, kube, ops
from mlapp.delivery.state import Branch, StateError
from mlapp.params import Params


def served_version(url: str) -> tuple[str | None, str]:
    """(model version the service reports, what was seen): version None while not ready."""
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            if (ready := http.get("/readyz")).status_code != 200:
                return None, f"/readyz answers {ready.status_code}"
            version = http.post("/metadata", json={}).json().get("model_version")
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"not reachable ({type(exc).__name__}: {exc})"
    return version, f"serves model {version}"


def argocd_status(app: str, namespace: str, config: Mapping[str, str]) -> str:
    """Sync and health of the Argo CD Application, or why they are unknown."""
    argv = ["kubectl", "get", "applications.argoproj.io", app, "-n", namespace, "-o", "json"]
    if (done := proc.run(argv, env=config, check=False, timeout=30)).returncode != 0:
        return f"Argo CD Application {namespace}/{app}: unknown (kubectl exit {done.returncode})"
    status = json.loads(done.stdout).get("status", {})
    sync, health = status.get("sync", {}), status.get("health", {})
    revision, message = str(sync.get("revision", "?"))[:12], health.get("message")
    return (
        f"Argo CD Application {namespace}/{app}: sync {sync.get('status', '?')} at {revision}, "
        f"health {health.get('status', '?')}" + (f" ({message})" if message else "")
    )


def wait_serving(
    url: str, version: str, timeout_s: float, poll_s: float, status: Callable[[], str] | None = None
) -> None:
    """Return once ``url`` serves model ``version``; raise with what is out of sync at the deadline."""
    deadline, last = time.monotonic() + timeout_s, ""
    while (seen := served_version(url))[0] != version:
        if seen[1] != last:
            click.echo(f"wait {url}: {seen[1]}, want model {version}")
            last = seen[1]
        if time.monotonic() >= deadline:
            extra = f"; {status()}" if status else ""
            raise StateError(f"after {timeout_s:g}s {url} still {seen[1]}, not model {version}{extra}")
        time.sleep(poll_s)
    click.echo(f"ok   {url} serves model {version}")


@contextmanager
def service_url(
    objects: list[kube.Obj], app: str, url: str | None
) -> Iterator[tuple[str | None, dict[str, str] | None]]:
    """(``url``, else a port-forward to the app's Service when kubectl reaches a cluster, else None;
    the cluster's kubectl environment, None without one)."""
    with kube.cluster_env() as config:
        if url or config is None:
            yield url, config
            return
        port = int(kube.find(objects, "Service", app)["spec"]["ports"][0]["port"])
        with kube.port_forward(kube.namespace_of(objects, app), app, port, config) as local:
            yield local, config


def smoke(url: str, model_dir: Path, version: str | None, env: str) -> None:
    from mlapp.serving import smoke as check

    try:
        check.run(url, model_dir, version, echo=click.echo)
    except check.SmokeFailure as exc:
        raise StateError(f"smoke test against {env} failed: {exc}") from exc
    click.echo(f"smoke test passed: {env} ({url})")


def push_image(engine: str, local: str, target: str) -> images.ImageRef:
    """Tag ``local`` as ``target``, push it, return the reference by the digest the registry stored."""
    proc.run([engine, "tag", local, target])
    proc.run([engine, "push", target], timeout=600)
    digests = proc.output([engine, "inspect", "--format", "{{json .RepoDigests}}", target])
    repo = target.rsplit(":", 1)[0]  # target always carries a tag
    for candidate in json.loads(digests) or []:
        if candidate.startswith(f"{repo}@"):
            return images.parse(candidate)
    raise StateError(f"{engine} knows no digest of {target} in {repo} after the push: {digests}")


def e2e(params: Params, local_image: str, registry: str, engine: str, with_argocd: bool) -> None:
    """The kind job, through the same code as a real deploy: push the image to a registry the
    nodes pull from, create the namespaces, optionally install the pinned Argo CD and have the
    API server validate our Applications, record the release on a LOCAL deploy branch as cd
    does, apply it in push mode (ApplySet prune), wait for the model, smoke through a port-forward."""
    d, model_dir = params.delivery, params.train.model_dir
    env = d.environments[0]
    with kube.cluster("the e2e run needs kubectl pointing at a throwaway cluster (kind)") as config:
        ref = push_image(engine, local_image, f"{registry}/{d.app}:e2e")
        click.echo(f"1/6 pushed {local_image} as {ref}")
        click.echo(kube.kubectl("apply", "-k", str(d.infra_dir / "bootstrap"), env=config))
        click.echo("2/6 namespaces and deployer roles applied (infra/bootstrap)")
        if with_argocd:
            argocd.install(d, config)
            argocd.bootstrap(d, None, config, dry_run=True)
            click.echo(f"3/6 Argo CD {d.argocd.version} installed; the API server accepts our Applications")
        branch = Branch(d)
        commit, release = ops.deploy(branch, env, ref, model_dir)
        click.echo(f"4/6 {env} recorded on the local {d.state_branch} branch ({commit[:12]})")
        click.echo(ops.apply(branch, env, commit, config).rstrip())
        click.echo("5/6 applied with ApplySet pruning; rollout finished")
        if release.model_version is None:
            raise StateError(f"no model in {model_dir}: the image's model is needed for the smoke test")
        with service_url(ops.objects_at(branch, env, commit), d.app, None) as (url, _config):
            wait_serving(str(url), release.model_version, d.sync_timeout_s, d.poll_s)
            smoke(str(url), model_dir, release.model_version, f"{env} on the cluster")
    click.echo(f"6/6 {env} on the cluster serves model {release.model_version} from {ref}: smoke test passed")
