"""The cluster end-to-end run (the kind job of the workflows), through the same code as a real deploy.

With kubectl pointing at a throwaway cluster (kind) and a registry the nodes pull from:
push the locally built image there (its digest is what gets deployed), create the
namespaces (``infra/bootstrap``), optionally install the pinned Argo CD and have the API
server validate our Applications against its CRDs, record the release on a LOCAL deploy
branch exactly as cd does, apply it in push mode (ApplySet prune, rollout status), wait
until the service reports the model, and run the smoke test through a port-forward.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlapp import proc
from mlapp.delivery import argocd, commands, images, kube, ops, verify
from mlapp.delivery.state import StateError
from mlapp.params import Params


def push_image(engine: str, local: str, target: str) -> images.ImageRef:
    """Tag ``local`` as ``target``, push it, return the reference by the digest the registry stored."""
    proc.run([engine, "tag", local, target])
    proc.run([engine, "push", target], timeout=600)
    digests = proc.output([engine, "inspect", "--format", "{{json .RepoDigests}}", target])
    repo = target.rsplit(":", 1)[0]  # target always carries a tag
    for candidate in kube.yaml.safe_load(digests) or []:
        if candidate.startswith(f"{repo}@"):
            return images.parse(candidate)
    raise StateError(f"{engine} knows no digest of {target} in {repo} after the push: {digests}")


def run(params: Params, local_image: str, registry: str, engine: str, with_argocd: bool) -> None:
    d = params.delivery
    env = d.environments[0]
    with kube.cluster_env() as cluster:
        if cluster is None:
            raise StateError("no cluster: the e2e run needs kubectl pointing at a throwaway cluster (kind)")
        ref = push_image(engine, local_image, f"{registry}/{d.app}:e2e")
        click.echo(f"1/6 pushed {local_image} as {ref}")
        click.echo(kube.kubectl("apply", "-k", str(d.infra_dir / "bootstrap"), env=cluster).rstrip())
        click.echo("2/6 namespaces and deployer roles applied (infra/bootstrap)")
        if with_argocd:
            click.echo(argocd.install(d, cluster).rstrip())
            text = argocd.render(d, commands.repo_url(params, None))
            click.echo(argocd.apply_text(text, None, cluster, "--dry-run=server").rstrip())
            click.echo(f"3/6 Argo CD {d.argocd.version} installed; the API server accepts our Applications")
        ctx = ops.Context.open(d, Path(), sync=False)
        commit, release = ops.deploy(ctx, env, ref, None, params.train.model_dir)
        click.echo(f"4/6 {env} recorded on the local {d.state_branch} branch ({commit[:12]})")
        click.echo(ops.apply(ctx, env, commit, cluster).rstrip())
        click.echo("5/6 applied with ApplySet pruning; rollout finished")
        if release.model_version is None:
            raise StateError(
                f"no model in {params.train.model_dir}: the image's model is needed for the smoke test"
            )
        from mlapp.serving import smoke

        with commands.service_url(ctx, env, None) as url:
            verify.wait_serving(str(url), release.model_version, d.sync_timeout_s, d.poll_s, click.echo)
            try:
                smoke.run(str(url), params.train.model_dir, release.model_version, echo=click.echo)
            except smoke.SmokeFailure as exc:
                raise StateError(f"smoke test against {env} on the cluster failed: {exc}") from exc
        click.echo(
            f"6/6 {env} on the cluster serves model {release.model_version} from {ref}: smoke test passed"
        )
