"""The cluster side: Argo CD's objects (plain YAML, checked against params), install and
bootstrap; reaching the service and waiting for the released model (writing the deploy branch
only states a wish), the smoke test; the kind e2e run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import click
import httpx
import yaml

from mlapp import gha, git, proc
from mlapp.delivery import kube, ops
from mlapp.delivery.state import Branch, Release, StateError, image_ref
from mlapp.errors import redact
from mlapp.image.engine import detect
from mlapp.params import DeliveryParams, Params

REPO_PLACEHOLDER = "https://github.com/OWNER/REPO.git"  # bootstrap puts the repository's URL there
FILE = Path("argocd/applications.yaml")  # under delivery.infra_dir
Cluster = dict[str, str]  # kubectl's environment for the cluster (KUBECONFIG)
INSTALL_URL = "https://raw.githubusercontent.com/argoproj/argo-cd/{commit}/manifests/install.yaml"
ASK_S = 10  # each of `wait`'s requests, at most: it asks again until delivery.sync_timeout_s
# Key `tokens`: infra/base mounts it at $MLAPP_API_TOKENS_FILE (docs/serving.md: a team creates it).
API_TOKENS_SECRET = "{app}-api-tokens"  # noqa: S105 (a name, no secret)


def repo_url(delivery: DeliveryParams, explicit: str | None = None) -> str:
    """``explicit``, params, else the https form of the git remote (``git@host:o/r`` too)."""
    if url := explicit or delivery.argocd.repo_url:
        return url
    remote = git.remote_url(delivery.remote)
    if not (found := git.remote_repo(remote) if remote else None):  # None: no remote, or a local path
        where = remote or f"no git remote {delivery.remote!r}"
        fix = "pass --repo-url or set delivery.argocd.repo_url"
        raise StateError(f"{where}: no https URL for Argo CD; {fix}")
    return f"https://{found[0]}/{found[1]}.git"


def namespace(delivery: DeliveryParams, env: str, root: Path = Path()) -> str:
    """The namespace the environment's overlay sets (its Application's destination), or is to set."""
    path = root / delivery.infra_dir / "overlays" / env / "kustomization.yaml"
    text = path.read_text() if path.is_file() else f"namespace: {delivery.app}-{env}"  # not written yet
    if not (found := (yaml.safe_load(text) or {}).get("namespace")):
        raise StateError(f"{path} must set `namespace:` (the Application's destination)")
    return str(found)


def check(delivery: DeliveryParams, root: Path = Path()) -> list[str]:
    """Why the Argo CD objects do not sync exactly the environments of params: one Application
    per environment (its folder of the deploy branch into its overlay's namespace, automated
    prune + self-heal) and a project that allows those namespaces and nothing cluster-scoped."""
    path = root / delivery.infra_dir / FILE
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o] if path.is_file() else []
    specs = [o["spec"] for o in kube.of_kind(objects, "Application")]
    envs = [spec.get("source", {}).get("path") for spec in specs]
    spaces = {env: namespace(delivery, env, root) for env in delivery.environments}
    project: kube.Obj = next((o["spec"] for o in kube.of_kind(objects, "AppProject")), {})
    allowed, need = {d.get("namespace") for d in project.get("destinations", [])}, set(spaces.values())
    problems = {
        f"Applications for {envs}, not {delivery.environments} (params order)": envs != delivery.environments,
        f"the AppProject must allow exactly {sorted(need)}": allowed != need,
        "the AppProject must allow nothing cluster-scoped": "clusterResourceWhitelist" in project,
        f"environments share a namespace ({spaces}): give each overlay its own": len(need) < len(spaces),
    }
    errors = [problem for problem, failed in problems.items() if failed]
    for env, spec in zip(envs, specs, strict=True):  # ns None: not in params (the first problem says so)
        source, ns, automated = spec["source"], spaces.get(env), spec.get("syncPolicy", {}).get("automated")
        checks = {
            f"project {delivery.app}": spec.get("project") == delivery.app,
            f"targetRevision {delivery.state_branch}": source.get("targetRevision") == delivery.state_branch,
            f"destination namespace {ns}": ns is None or spec.get("destination", {}).get("namespace") == ns,
            "automated sync with prune and selfHeal": automated == {"prune": True, "selfHeal": True},
            "a repoURL the AppProject allows": source.get("repoURL") in project.get("sourceRepos", []),
        }
        errors += [f"Application for {env} needs {what}" for what, ok in checks.items() if not ok]
    return [f"{path}: {error}" for error in errors]


def install(delivery: DeliveryParams, config: Mapping[str, str]) -> None:
    """The pinned Argo CD: install.yaml at its commit, refused unless its sha256 matches params
    (server-side apply: its CRDs exceed the client-side annotation limit)."""
    cfg = delivery.argocd
    url = INSTALL_URL.format(commit=cfg.commit)
    try:
        text = httpx.get(url, timeout=60, follow_redirects=True).raise_for_status().text
    except httpx.HTTPError as exc:  # offline, a proxy, a moved file: one line, not a traceback
        raise StateError(f"Argo CD {cfg.version} install.yaml could not be fetched: {url}: {exc}") from exc
    if (actual := hashlib.sha256(text.encode()).hexdigest()) != cfg.install_sha256:
        raise StateError(f"Argo CD {cfg.version} install.yaml has sha256 {actual}, not {cfg.install_sha256}")
    proc.run(["kubectl", "create", "namespace", cfg.namespace], env=config, check=False)  # exists: fine
    side = ["--server-side", "--force-conflicts"]
    click.echo(kube.kubectl("apply", "-n", cfg.namespace, "-f", "-", *side, env=config, input=text))
    crds = ["crd/applications.argoproj.io", "crd/appprojects.argoproj.io"]
    click.echo(kube.kubectl("wait", "--for=condition=Established", "--timeout=120s", *crds, env=config))
    click.echo(f"Argo CD {cfg.version} installed in namespace {cfg.namespace}")


def bootstrap(delivery: DeliveryParams, url: str | None, config: Mapping[str, str], dry_run: bool) -> None:
    """Namespaces (``infra/bootstrap``), then the project and Applications pulling ``url``."""
    extra = ["--dry-run=server"] if dry_run else []
    apps = (delivery.infra_dir / FILE).read_text().replace(REPO_PLACEHOLDER, repo_url(delivery, url))
    click.echo(kube.kubectl("apply", "-k", str(delivery.infra_dir / "bootstrap"), *extra, env=config))
    click.echo(kube.kubectl("apply", "-f", "-", *extra, env=config, input=apps))


def served_version(url: str, deadline: float) -> tuple[str | None, str]:
    """(model version the service reports, what was seen): version None while not ready; each request
    gets what is left of ``deadline``, at most ASK_S. /metadata is asked with ``$MLAPP_API_TOKEN``."""
    from mlapp.serving.smoke import TOKEN_ENV, client, left, no_answer

    try:
        with client(url, timeout_s=ASK_S) as http:
            if (ready := http.get("/readyz", timeout=left(deadline, ASK_S))).status_code != 200:
                return None, f"/readyz answers {ready.status_code}"
            answer = http.post("/metadata", json={}, timeout=left(deadline, ASK_S))
            if answer.status_code in (401, 403):
                # Waiting cannot fix a missing or wrong token: say which variable, now.
                why = f"set ${TOKEN_ENV} to one of the service's API tokens (docs/serving.md)"
                raise StateError(f"{url}/metadata answers {answer.status_code}: {why}")
            version = answer.json().get("model_version")
    except httpx.TimeoutException as exc:
        return None, no_answer(url, exc)
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"not reachable ({type(exc).__name__}: {exc})"
    return version, f"serves model {version}"


def argocd_status(delivery: DeliveryParams, env: str, config: Mapping[str, str]) -> str:
    """Sync and health of ``env``'s Argo CD Application, or why they are unknown."""
    app, namespace = f"{delivery.app}-{env}", delivery.argocd.namespace
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


@contextmanager
def reach(branch: Branch, env: str, url: str | None) -> Iterator[tuple[Release, str | None, Cluster | None]]:
    """(``env``'s release, ``url`` or else a port-forward to its Service when kubectl reaches a
    cluster or else None, the cluster's kubectl environment or None)."""
    commit, release = branch.current(env)
    with kube.cluster_env() as config:
        if url or config is None:
            yield release, url, config
            return
        service = kube.find(ops.objects_at(branch, env, commit), "Service", branch.delivery.app)
        namespace, port = service["metadata"].get("namespace", "default"), service["spec"]["ports"][0]["port"]
        with kube.port_forward(namespace, branch.delivery.app, int(port), config) as local:
            yield release, local, config


def note(markdown: str) -> None:
    """Something to configure: in the log and on the run's summary page."""
    click.echo(markdown)
    gha.append_summary(markdown)


def wait(params: Params, env: str, url: str | None, fetch: bool, timeout_s: float | None) -> None:
    """Until ``env`` serves its release's model; step output ``reachable``: false when nothing can tell."""
    d = params.delivery
    with reach(Branch(d, sync=fetch), env, url) as (release, base, config):
        if (version := release.model_version) is None:
            raise StateError(f"{env}'s release names no model version: deploy it with --model-dir")
        gha.set_outputs({"reachable": base is not None})
        if base is None:
            return note(
                f"**{env}**: desired state recorded; nothing can reach the service, so it is not verified. "
                f"Set the variable `SERVICE_URL` in the GitHub environment `{env}` (or the secret "
                "`KUBE_CONFIG` for a port-forward); to run a cluster, see infra/README.md."
            )
        timeout = d.sync_timeout_s if timeout_s is None else timeout_s
        deadline, last = time.monotonic() + timeout, ""
        while (seen := served_version(base, deadline))[0] != version:
            if seen[1] != last:
                click.echo(f"wait {redact(base)}: {seen[1]}, want model {version}")
                last = seen[1]
            if time.monotonic() >= deadline:
                why = f"after {timeout:g}s {base} still {seen[1]}, not model {version}"
                raise StateError(why if config is None else f"{why}; {argocd_status(d, env, config)}")
            time.sleep(min(d.poll_s, max(deadline - time.monotonic(), 0)))
        click.echo(f"ok   {redact(base)} serves model {version}")


def smoke(params: Params, env: str, url: str | None, fetch: bool) -> None:
    """The serving smoke test against ``env``: the records its release recorded, expecting the
    released model's answers and version (a promotion job has no model of the release, and
    main's schema may have moved on since)."""
    from mlapp.serving import smoke as check

    with reach(Branch(params.delivery, sync=fetch), env, url) as (release, base, _config):
        if base is None:
            raise StateError(f"no way to reach {env}: set SERVICE_URL or KUBE_CONFIG")
        if (case := release.smoke) is None or (version := release.model_version) is None:
            raise StateError(f"{env}'s release records no smoke test: deploy it with --model-dir")
        source = f"model {version} as recorded in {env}'s release"
        check.check(base, case, version, source, echo=click.echo)  # SmokeFailure: the CLI's exit 1
    click.echo(f"smoke test passed: {env} ({redact(base)})")


def e2e(params: Params, local_image: str, registry: str, engine: str) -> None:
    """The kind job, through the same code as a real deploy: each of its six steps says what it did."""
    from mlapp.serving.smoke import TOKEN_ENV

    d, env = params.delivery, params.delivery.environments[0]
    with kube.cluster("the e2e run needs kubectl pointing at a throwaway cluster (kind)") as config:
        image = image_ref(detect(engine).push(local_image, f"{registry}/{d.app}:e2e"))
        click.echo(f"1/6 pushed {local_image} as {image}")
        click.echo(kube.kubectl("apply", "-k", str(d.infra_dir / "bootstrap"), env=config))
        click.echo("2/6 namespaces and deployer roles applied (infra/bootstrap)")
        install(d, config)
        bootstrap(d, None, config, dry_run=True)
        click.echo(f"3/6 Argo CD {d.argocd.version} installed; the API server accepts our Applications")
        branch = Branch(d)
        commit = ops.record(branch, release := ops.deploy(branch, env, image, params.train.model_dir))
        click.echo(f"4/6 {env} recorded on the local {d.state_branch} branch ({commit[:12]})")
        # The overlays require a bearer token: a throwaway one, in the Secret a team creates.
        token = os.environ.setdefault(TOKEN_ENV, secrets.token_urlsafe(32))
        ns, name = namespace(d, env), API_TOKENS_SECRET.format(app=d.app)
        meta = {"namespace": ns, "name": name}
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"tokens": token}}
        kube.kubectl("apply", "-f", "-", env=config, input=json.dumps(secret))
        click.echo(f"    API token Secret {ns}/{name} created; wait and smoke send ${TOKEN_ENV}")
        click.echo(ops.apply(branch, env, commit, config))
        click.echo("5/6 applied with ApplySet pruning; rollout finished")
        wait(params, env, None, fetch=False, timeout_s=None)
        smoke(params, env, None, fetch=False)
    click.echo(f"6/6 {env} on the cluster serves model {release.model_version} of {image}: smoke passed")
