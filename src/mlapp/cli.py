"""One command, one subcommand per job. dvc.yaml, Makefile, workflows and tests call these.

Options default to params.yaml; dvc.yaml passes paths explicitly so that each stage's
command names exactly its deps and outs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mlapp.errors import UserError
from mlapp.params import load_params

PathOption = click.Path(path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params",
    "params_path",
    type=PathOption,
    default=Path("params.yaml"),
    show_default=True,
    help="params.yaml to read.",
)
@click.pass_context
def cli(ctx: click.Context, params_path: Path) -> None:
    """GitOps ML template: pipeline stages, registry, report and serving helpers."""
    ctx.obj = params_path


def _exit(code: int) -> None:
    if code:
        sys.exit(code)


@cli.command()
@click.option("--rows", type=int, help="Rows to generate [params: sample_data.rows].")
@click.option("--seed", type=int, help="Random seed [params: sample_data.seed].")
@click.option("--out", type=PathOption, help="CSV to write [params: data.raw].")
@click.pass_obj
def generate(params_path: Path, rows: int | None, seed: int | None, out: Path | None) -> None:
    """Write the synthetic churn sample table."""
    from mlapp import sample_data

    params = load_params(params_path)
    path = out or params.data.raw
    frame = sample_data.generate(
        rows or params.sample_data.rows, params.sample_data.seed if seed is None else seed
    )
    sample_data.write(frame, path)
    click.echo(f"wrote {len(frame)} rows to {path} (label rate {frame[params.data.label].mean():.3f})")


@cli.command()
@click.option("--input", "source", type=PathOption, help="Raw table [params: data.raw].")
@click.option("--output", type=PathOption, help="Typed table [params: validate.output].")
@click.option("--report", type=PathOption, help="Report JSON [params: validate.report].")
@click.pass_obj
def validate(params_path: Path, source: Path | None, output: Path | None, report: Path | None) -> None:
    """Stage 1: validate the raw table against the pandera schema."""
    from mlapp.stages import validate as stage

    _exit(stage.main(params_path, source, output, report))


@cli.command()
@click.option("--input", "source", type=PathOption, help="Validated table [params: validate.output].")
@click.option("--train", type=PathOption, help="Train table [params: split.train].")
@click.option("--test", type=PathOption, help="Test table [params: split.test].")
@click.pass_obj
def split(params_path: Path, source: Path | None, train: Path | None, test: Path | None) -> None:
    """Stage 2: seeded train/test split (stratified or by event time)."""
    from mlapp.stages import split as stage

    _exit(stage.main(params_path, source, train, test))


@cli.command()
@click.option("--input", "source", type=PathOption, help="Train table [params: split.train].")
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.pass_obj
def train(params_path: Path, source: Path | None, model_dir: Path | None) -> None:
    """Stage 3: train the XGBoost model (native format, no pickle)."""
    from mlapp.stages import train as stage

    _exit(stage.main(params_path, source, model_dir))


@cli.command()
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.option("--test", type=PathOption, help="Test table [params: split.test].")
@click.option("--metrics", type=PathOption, help="Metrics JSON [params: evaluate.metrics].")
@click.option("--plots-dir", type=PathOption, help="Plot data folder [params: evaluate.plots_dir].")
@click.option("--no-mlflow", is_flag=True, help="Skip logging the MLflow run.")
@click.pass_obj
def evaluate(
    params_path: Path,
    model_dir: Path | None,
    test: Path | None,
    metrics: Path | None,
    plots_dir: Path | None,
    no_mlflow: bool,
) -> None:
    """Stage 4: metrics + plot data on the test set; log the MLflow run."""
    from mlapp.stages import evaluate as stage

    _exit(stage.main(params_path, model_dir, test, metrics, plots_dir, not no_mlflow))


@cli.command()
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.pass_obj
def track(params_path: Path, model_dir: Path | None) -> None:
    """Make sure the tracking store has a run for the current model (logs one if missing)."""
    from mlapp import tracking

    params = load_params(params_path)
    tracking.connect(params.mlflow)
    run_id = tracking.ensure_run(params, model_dir or params.train.model_dir)
    click.echo(f"MLflow run {run_id} at {params.mlflow.resolved_tracking_uri()}")


@cli.command()
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.option("--alias", "aliases", multiple=True, help="Alias to point at the new version (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Extra version tag (repeatable).")
@click.pass_obj
def register(
    params_path: Path, model_dir: Path | None, aliases: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """Create an MLflow registry version from the current model, optionally set aliases."""
    from mlapp import tracking

    params = load_params(params_path)
    extra = dict(t.split("=", 1) for t in tags if "=" in t)
    bad = [t for t in tags if "=" not in t]
    if bad:
        raise click.BadParameter(f"expected KEY=VALUE, got {bad}", param_hint="--tag")
    version = tracking.register(params, model_dir or params.train.model_dir, list(aliases), extra)
    click.echo(
        f"registered {params.mlflow.model_name} version {version}"
        + (f" with aliases {', '.join(aliases)}" if aliases else "")
    )


@cli.command()
@click.option(
    "--source",
    envvar="MONITOR_SOURCE",
    help="Batch to check: CSV, Parquet or JSONL prediction log; path or URL "
    "[env: MONITOR_SOURCE; params: monitor.source].",
)
@click.option("--json", "json_path", type=PathOption, help="JSON report [params: monitor.report_json].")
@click.option(
    "--markdown", "markdown_path", type=PathOption, help="Markdown report [params: monitor.report_markdown]."
)
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.option("--exit-zero", is_flag=True, help="Exit 0 also when retraining is recommended; errors stay 2.")
@click.option(
    "--github-output",
    type=PathOption,
    help="Append retrain=true|false and status=... to this file (the workflow's $GITHUB_OUTPUT).",
)
@click.option(
    "--summary", type=PathOption, help="Also append the Markdown here (the workflow's $GITHUB_STEP_SUMMARY)."
)
@click.pass_obj
def monitor(
    params_path: Path,
    source: str | None,
    json_path: Path | None,
    markdown_path: Path | None,
    model_dir: Path | None,
    exit_zero: bool,
    github_output: Path | None,
    summary: Path | None,
) -> None:
    """Drift and decay of a batch vs the training reference. Exit 0 no action, 1 retrain, 2 error."""
    from mlapp.monitor import run

    _exit(
        run.main(params_path, source, json_path, markdown_path, model_dir, exit_zero, github_output, summary)
    )


@cli.group()
def retrain() -> None:
    """The retraining pull request: prepare the branch, publish it, open or update the PR."""


@retrain.command("prepare")
@click.option(
    "--source",
    envvar="MONITOR_SOURCE",
    help="Batch with the fresh data [env: MONITOR_SOURCE; params: monitor.source].",
)
@click.option("--no-repro", is_flag=True, help="Only move the data pointer; leave retraining to the PR's CI.")
@click.option("--github-output", type=PathOption, help="Append changed=true|false to this file.")
@click.pass_obj
def retrain_prepare(
    params_path: Path, source: str | None, no_repro: bool, github_output: Path | None
) -> None:
    """Re-create the branch from the base, refresh the data (dvc add/update), retrain, commit."""
    from mlapp.monitor import retrain as ct
    from mlapp.monitor.batch import MonitorError

    params = load_params(params_path)
    source = source or params.monitor.source
    if not source and params.monitor.retrain.refresh != "import":
        raise MonitorError("no fresh data: pass --source PATH or set monitor.source in params.yaml")
    ct.prepare(params, source or "", not no_repro, github_output)


@retrain.command("publish")
@click.pass_obj
def retrain_publish(params_path: Path) -> None:
    """Force-push the retraining branch (skipped when the remote already holds the same files)."""
    from mlapp.monitor import retrain as ct

    ct.publish(load_params(params_path))


@retrain.command("open-pr")
@click.option("--body", type=PathOption, help="PR body (Markdown) [params: monitor.report_markdown].")
@click.pass_obj
def retrain_open_pr(params_path: Path, body: Path | None) -> None:
    """Open the retraining pull request with `gh`, or update the open one."""
    from mlapp.monitor import retrain as ct

    params = load_params(params_path)
    ct.open_pr(params, body or params.monitor.report_markdown)


# --- delivery (issue 5): build once, deploy by digest, promote, roll back --------------------
# Bookkeeping lives on the deploy branch (mlapp/delivery/state.py); --push syncs it with the
# remote, --apply also runs `kubectl apply` + rollout status. See infra/README.md.

EnvOption = click.option("--env", "env", required=True, help="Environment [params: delivery.environments].")
PushOption = click.option("--push", is_flag=True, help="Fetch the deploy branch first, push the new state.")
ApplyOption = click.option("--apply", "do_apply", is_flag=True, help="Also kubectl apply + rollout status.")
VerifyOption = click.option(
    "--verify-attestation", "verify", is_flag=True, help="Refuse an image without attestation (gh)."
)


@cli.command()
@EnvOption
@click.option("--image", required=True, envvar="IMAGE_REF", help="name@sha256:... to run [env: IMAGE_REF].")
@click.option("--source-commit", help="Commit the image was built from [default: GITHUB_SHA or HEAD].")
@click.option("--model-dir", type=PathOption, help="The image's model [params: train.model_dir].")
@PushOption
@ApplyOption
@VerifyOption
@click.pass_obj
def deploy(
    params_path: Path, env: str, image: str, source_commit: str | None, model_dir: Path | None,
    push: bool, do_apply: bool, verify: bool,
) -> None:  # fmt: skip
    """Record that ENV runs IMAGE (manifests of HEAD, digest-pinned) on the deploy branch."""
    from mlapp.delivery import commands

    params = load_params(params_path)
    commands.deploy(params, env, image, source_commit, model_dir, push, do_apply, verify)


@cli.command()
@click.option("--to", "target", default=None, help="Target environment [default: the last one].")
@click.option("--from", "source", default=None, help="Source environment [default: the one before --to].")
@click.option(
    "--digest", envvar="PROMOTE_DIGEST", default=None,
    help="sha256:... that passed the source env, or 'current' for its latest verified [env: PROMOTE_DIGEST].",
)  # fmt: skip
@PushOption
@ApplyOption
@VerifyOption
@click.pass_obj
def promote(
    params_path: Path, target: str | None, source: str | None, digest: str | None,
    push: bool, do_apply: bool, verify: bool,
) -> None:  # fmt: skip
    """Deploy to the next environment the exact image that passed the previous one."""
    from mlapp.delivery import commands

    params = load_params(params_path)
    target = target or params.delivery.environments[-1]
    commands.promote(params, target, source, digest, push, do_apply, verify)


@cli.command()
@EnvOption
@click.option(
    "--to-digest",
    envvar="ROLLBACK_DIGEST",
    default=None,
    help="Go back to this verified digest [default: the previous one; env: ROLLBACK_DIGEST].",
)
@PushOption
@ApplyOption
@VerifyOption
@click.pass_obj
def rollback(
    params_path: Path, env: str, to_digest: str | None, push: bool, do_apply: bool, verify: bool
) -> None:
    """Restore ENV's previous verified release (image and manifests) from the deploy branch."""
    from mlapp.delivery import commands

    commands.rollback(load_params(params_path), env, to_digest or None, push, do_apply, verify)


@cli.command()
@EnvOption
@click.option(
    "--digest",
    envvar="IMAGE_DIGEST",
    default=None,
    help="The digest that passed the smoke test [env: IMAGE_DIGEST; default: what ENV runs].",
)
@PushOption
@click.option("--no-registry", is_flag=True, help="Do not move the MLflow alias (bookkeeping only).")
@click.pass_obj
def accept(params_path: Path, env: str, digest: str | None, push: bool, no_registry: bool) -> None:
    """After a passed smoke test: mark ENV's release verified and move the MLflow alias ENV."""
    from mlapp.delivery import commands

    commands.accept(load_params(params_path), env, digest or None, push, not no_registry)


@cli.command("deploy-status")
@click.option("--fetch", is_flag=True, help="Fetch the deploy branch from the remote first.")
@click.pass_obj
def deploy_status(params_path: Path, fetch: bool) -> None:
    """What each environment runs: digest, model, source commit, who deployed it."""
    from mlapp.delivery import commands

    commands.status(load_params(params_path), fetch)


@cli.command("smoke-env")
@EnvOption
@click.option(
    "--url",
    envvar="SERVICE_URL",
    default=None,
    help="Service URL [env: SERVICE_URL; default: kubectl port-forward to the Service].",
)
@click.option("--fetch", is_flag=True, help="Fetch the deploy branch from the remote first.")
@click.pass_obj
def smoke_env(params_path: Path, env: str, url: str | None, fetch: bool) -> None:
    """`mlapp smoke` against ENV, expecting the model version its release record names."""
    from mlapp.delivery import commands

    commands.smoke_env(load_params(params_path), params_path, env, url or None, fetch)


@cli.command("image-metadata")
@click.option("--repository", help="OWNER/NAME [default: GITHUB_REPOSITORY].")
@click.option(
    "--github-output",
    type=PathOption,
    envvar="GITHUB_OUTPUT",
    help="Append image, tags, labels as step outputs [env: GITHUB_OUTPUT].",
)
@click.pass_obj
def image_metadata(params_path: Path, repository: str | None, github_output: Path | None) -> None:
    """Image name, tags (git SHA, model version) and lineage labels for the image build."""
    from mlapp.delivery import commands

    commands.image_metadata(load_params(params_path), repository, github_output)


@cli.command("release-notes")
@EnvOption
@click.option("--out", type=PathOption, help="Write the model card here (default: print it).")
@click.option("--publish", is_flag=True, help="Record it as a GitHub release (gh release create).")
@click.option("--fetch", is_flag=True, help="Fetch the deploy branch from the remote first.")
@click.pass_obj
def release_notes(params_path: Path, env: str, out: Path | None, publish: bool, fetch: bool) -> None:
    """The model card of ENV's release: metrics, lineage, the PR it came from."""
    from mlapp.delivery import commands

    commands.release_notes(load_params(params_path), env, out, publish, fetch)


@cli.command("check-workflows")
@click.option("--dir", "workflows_dir", type=PathOption, default=Path(".github/workflows"), show_default=True)
@click.option("--makefile", type=PathOption, default=Path("Makefile"), show_default=True)
def check_workflows(workflows_dir: Path, makefile: Path) -> None:
    """The repository's workflow rules (pins, permissions, thin steps that exist, deploy concurrency)."""
    from mlapp.delivery.workflows import check_all

    commands = {n: (set(c.commands) if isinstance(c, click.Group) else None) for n, c in cli.commands.items()}
    findings = check_all(workflows_dir, makefile, commands)
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        sys.exit(1)
    click.echo(f"{workflows_dir}: workflow rules OK")


@cli.command("check-manifests")
@click.argument("overlays", nargs=-1, type=PathOption)
@click.pass_obj
def check_manifests(params_path: Path, overlays: tuple[Path, ...]) -> None:
    """Render each overlay (default: every environment) and validate it offline."""
    from mlapp.delivery import commands

    commands.check_manifests(load_params(params_path), overlays)


@cli.command("github-setup")
@click.option("--repo", help="OWNER/NAME [default: GITHUB_REPOSITORY or the origin remote].")
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    metavar="user:LOGIN|team:ORG/SLUG",
    help="Required reviewer for production (repeatable).",
)
@click.option("--check", "checks", multiple=True, help="Required status check [default: ci.yml job names].")
@click.option("--allow-actions-prs", is_flag=True, help="Let the job token open PRs.")
@click.option("--apply", "do_apply", is_flag=True, help="Send the requests with `gh api` [default: print].")
@click.pass_obj
def github_setup(
    params_path: Path, repo: str | None, reviewers: tuple[str, ...], checks: tuple[str, ...],
    allow_actions_prs: bool, do_apply: bool,
) -> None:  # fmt: skip
    """Environments, protection rules and rulesets of docs/github-setup.md, via `gh api`."""
    from mlapp.delivery import setup

    setup.main(load_params(params_path), repo, reviewers, checks, do_apply, allow_actions_prs)


@cli.command()
@click.option("--base", help="Champion's git ref [default: merge base of HEAD and report.default_base].")
@click.option("--out", "out_dir", type=PathOption, help="Report folder [params: report.out_dir].")
@click.option("--no-gate", is_flag=True, help="Exit 0 whatever the gate says (CI runs `mlapp gate` next).")
@click.option(
    "--summary",
    type=PathOption,
    envvar="GITHUB_STEP_SUMMARY",
    help="Also append the Markdown to this file [env: GITHUB_STEP_SUMMARY].",
)
@click.pass_obj
def report(
    params_path: Path, base: str | None, out_dir: Path | None, no_gate: bool, summary: Path | None
) -> None:
    """PR report: the base ref's model vs this tree's, on the same test rows; exit 1 if the gate fails."""
    from mlapp.report import run

    _exit(run.main(params_path, base, out_dir, not no_gate, summary))


@cli.command()
@click.argument("report_json", type=PathOption, required=False)
@click.pass_obj
def gate(params_path: Path, report_json: Path | None) -> None:
    """Quality gate of a written report: exit 1 when it failed [default: report.out_dir/report.json]."""
    from mlapp.report.gate import check

    _exit(check(report_json or load_params(params_path).report.out_dir / "report.json"))


@cli.command("pr-comment")
@click.option("--repo", envvar="GITHUB_REPOSITORY", required=True, help="OWNER/NAME [env: GITHUB_REPOSITORY]")
@click.option("--run-id", required=True, type=int, help="The pr workflow run that built the report.")
@click.option(
    "--report", "report_md", type=PathOption, required=True, help="report.md from that run's artifact."
)
@click.pass_obj
def pr_comment(params_path: Path, repo: str, run_id: int, report_md: Path) -> None:
    """Post a downloaded PR report as the PR's one sticky comment (CML), treating it as data."""
    from mlapp.report import github

    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    limit = load_params(params_path).report.max_chars
    number = github.post(repo, run_id, report_md, f"{server}/{repo}/actions/runs/{run_id}", limit)
    if number is None:
        click.echo("no open pull request has this run's commit as its head: nothing to comment on", err=True)
    else:
        click.echo(f"report posted on pull request #{number}")


@cli.command()
@click.option("--port", type=int, help="Port [params: serving.port; `make serve PORT=...`].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0 to expose it).")
@click.option("--model-dir", type=PathOption, help="Model folder [params: train.model_dir].")
@click.pass_obj
def serve(params_path: Path, port: int | None, host: str, model_dir: Path | None) -> None:
    """Serve the current model with BentoML (`bentoml serve`), from the source tree."""
    from mlapp.serving import service_command

    params = load_params(params_path)
    argv, env = service_command(params_path, port or params.serving.port, host, model_dir)
    where = f"http://{host}:{port or params.serving.port}"
    click.echo(f"serving {model_dir or params.train.model_dir}/ on {where}", err=True)
    os.execvpe(argv[0], argv, env)  # noqa: S606 - fixed argv: bentoml takes over this process


@cli.command()
@click.option("--docker-context", type=PathOption, help="Also export a docker build context here.")
@click.option("--print-path", is_flag=True, help="Print only the bento's path (default: KEY=VALUE lines).")
@click.pass_obj
def bento(params_path: Path, docker_context: Path | None, print_path: bool) -> None:
    """Build the bento from models/ with lineage labels; print tag, path, versions (>> $GITHUB_OUTPUT)."""
    from mlapp.serving import bento as builder

    built = builder.build(load_params(params_path), docker_context=docker_context)
    if print_path:
        click.echo(built.path)
    else:
        click.echo("\n".join(f"{key}={value}" for key, value in built.outputs().items()))


@cli.command()
@click.option("--url", required=True, envvar="SMOKE_URL", help="Service base URL [env: SMOKE_URL].")
@click.option("--expect-version", help="Model version the service must report [default: the local model's].")
@click.option("--model-dir", type=PathOption, help="Local model to compare with [params: train.model_dir].")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for /readyz.")
@click.pass_obj
def smoke(
    params_path: Path, url: str, expect_version: str | None, model_dir: Path | None, timeout: float
) -> None:
    """After a deploy: health, predictions equal to the local model's, and the model version."""
    from mlapp.serving import smoke as check

    params = load_params(params_path)
    try:
        check.run(
            url, model_dir or params.train.model_dir, expect_version, timeout_s=timeout, echo=click.echo
        )
    except check.SmokeFailure as exc:
        click.echo(f"FAIL {exc}", err=True)
        sys.exit(1)
    click.echo(f"smoke test passed: {url}")


@cli.command("init")
@click.argument("name")
def init_project(name: str) -> None:
    """Rename the template (package, CLI, image, MLflow model, k8s app) to NAME, in place.

    `make init NAME=...` also re-locks and re-syncs the environment afterwards.
    """
    from mlapp import template

    changed = template.rename(Path.cwd(), name)
    click.echo(
        f"renamed the template to {name!r} in {len(changed)} files; "
        "next: `uv lock && uv sync`, then `make test` and commit"
    )


@cli.command("monitor-metrics")
@click.option("--report", "report_json", type=PathOption, help="Report JSON [params: monitor.report_json].")
@click.option("--out", required=True, help="Prometheus text file to write (atomically), or - for stdout.")
@click.pass_obj
def monitor_metrics(params_path: Path, report_json: Path | None, out: str) -> None:
    """The last monitor report as Prometheus gauges (PSI per feature, ...) for Pushgateway or a textfile."""
    from mlapp import drift_metrics

    drift_metrics.write(report_json or load_params(params_path).monitor.report_json, out)
    if out != "-":
        click.echo(f"wrote {out}", err=True)


def main() -> None:
    try:
        cli()
    except (UserError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
