"""Workflow `run:` steps run with the workflow's own words and env, and the list of which test
runs each step (RUN_BY) or why none does (NOT_RUN).

Each step's argv and env come from the workflow file (tests/delivery/steps.py), with the
dispatch inputs at their defaults. The deploy branch lives in a local bare ``origin``; ``gh`` is
a stand-in on PATH that records its arguments and either finds the attestation or does not.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from tests.conftest import REPO, copy_project, sh
from tests.delivery.conftest import FIRST, LAST, digest, image
from tests.delivery.steps import (
    CD_JOB,
    FOUND,
    NOT_FOUND,
    REPOSITORY,
    RUNNER,
    UV,
    command,
    defaults,
    gh,
    run_steps,
)

from mlapp.gha import parse_outputs
from mlapp.model import load


def remote_release(work: Path, env: str) -> dict[str, str] | None:
    """``env``'s release.json on the remote's deploy branch (None: no such folder)."""
    git_dir = str(work.parent / "origin.git")
    done = sh("git", "--git-dir", git_dir, "show", f"deploy:{env}/release.json", cwd=work, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def remote_tip(work: Path) -> str:
    return sh("git", "--git-dir", str(work.parent / "origin.git"), "rev-parse", "deploy", cwd=work).stdout


def released(mlapp, env: str, char: str) -> None:
    """A release of image ``char`` in ``env`` that passed its smoke test (bookkeeping only)."""
    for args in (("deploy", "--env", env, "--image", image(char)), ("accept", "--env", env, "--no-registry")):
        code, out = mlapp("delivery", *args, "--push")
        assert code == 0, out


def run_step(
    mlapp, tmp_path: Path, workflow: str, job: str, starts: str, gh_body: str, **context: str
) -> tuple[int, str]:
    inputs = {**defaults(workflow), **context}
    argv, env = command(workflow, job, starts, inputs, runner=RUNNER)
    assert argv[0] == "mlapp", argv
    return mlapp(*argv[1:], env={**env, "PATH": gh(tmp_path, gh_body)})


def verified_subject(tmp_path: Path) -> str:
    argv = (tmp_path / "gh.log").read_text().splitlines()[-1].split()
    assert argv[:2] == ["attestation", "verify"] and argv[argv.index("--repo") + 1] == REPOSITORY, argv
    return argv[2]


DEPLOY = ("cd.yml", CD_JOB, UV + "mlapp delivery deploy ")
PROMOTE = ("promote.yml", "promote", UV + "mlapp delivery promote ")
ROLLBACK = ("rollback.yml", "rollback", UV + "mlapp delivery rollback ")


def test_cd_deploy_step_records_the_attested_build_and_refuses_an_unattested_one(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    built = {"needs.build.outputs.image": image("a").split("@")[0], "needs.build.outputs.digest": digest("a")}
    code, out = run_step(mlapp, tmp_path, *DEPLOY, NOT_FOUND, **built)
    assert code != 0 and "no attestations found for the subject" in out, out
    assert verified_subject(tmp_path) == f"oci://{image('a')}"
    assert not (gitops.parent / "origin.git" / "refs/heads/deploy").exists()  # nothing recorded

    code, out = run_step(mlapp, tmp_path, *DEPLOY, FOUND, **built)
    assert code == 0 and "verified 1 provenance attestation" in out, out
    argv = (tmp_path / "gh.log").read_text().splitlines()[-1].split()  # signed by cd.yml on main
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--signer-workflow"] == f"{REPOSITORY}/.github/workflows/cd.yml"
    assert pairs["--source-ref"] == "refs/heads/main"
    assert "--deny-self-hosted-runners" in argv
    release = remote_release(gitops, FIRST)
    assert release is not None
    assert (release["image"], release["action"], release["status"]) == (image("a"), "deploy", "deployed")


def test_cd_staging_on_day_one_records_the_release_and_says_what_to_configure(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_project: Path
) -> None:
    """No variable, no secret (every `vars.*`/`secrets.*` empty), no cluster: deploy records, wait
    says what to set and outputs reachable=false, which skips smoke, register and accept."""
    shutil.copytree(reference_project / "models", gitops / "models")  # the build job's model artifact
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    built = {"needs.build.outputs.image": image("a").split("@")[0], "needs.build.outputs.digest": digest("a")}
    assert run_step(mlapp, tmp_path, *DEPLOY, FOUND, **built)[0] == 0
    code, out = run_step(mlapp, tmp_path, "cd.yml", CD_JOB, UV + "mlapp delivery wait ", FOUND, **built)
    assert code == 0, out
    assert f"Set the variable `SERVICE_URL` in the GitHub environment `{FIRST}`" in summary.read_text()
    assert parse_outputs(outputs.read_text()) == {"reachable": "false"}
    release = remote_release(gitops, FIRST)
    assert release is not None and release["status"] == "deployed"  # recorded, not verified
    assert release["model_version"] == load(gitops / "models").version  # what the service reports


def test_promote_step_commits_the_attested_digest_and_refuses_an_unattested_one(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    released(mlapp, FIRST, "a")
    before = remote_tip(gitops)
    code, out = run_step(mlapp, tmp_path, *PROMOTE, NOT_FOUND)
    assert code != 0 and "no attestations found for the subject" in out, out
    assert verified_subject(tmp_path) == f"oci://{image('a')}"
    assert remote_tip(gitops) == before and remote_release(gitops, LAST) is None

    code, out = run_step(mlapp, tmp_path, *PROMOTE, FOUND)
    assert code == 0 and "verified 1 provenance attestation" in out, out
    release = remote_release(gitops, LAST)
    assert release is not None
    assert (release["image"], release["action"], release["status"]) == (image("a"), "promote", "deployed")
    assert release["promoted_from"] == FIRST


def test_rollback_step_restores_the_attested_release_and_refuses_an_unattested_one(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    env = defaults("rollback.yml")["inputs.env"]  # the workflow's default target
    for char in "ab":  # two verified releases there: b runs, a is the one to return to
        released(mlapp, FIRST, char)
        if env != FIRST:
            for args in (("promote", "--to", env), ("accept", "--env", env, "--no-registry")):
                code, out = mlapp("delivery", *args, "--push")
                assert code == 0, out
    before = remote_tip(gitops)
    code, out = run_step(mlapp, tmp_path, *ROLLBACK, NOT_FOUND)
    assert code != 0 and "no attestations found for the subject" in out, out
    assert verified_subject(tmp_path) == f"oci://{image('a')}"  # the release to return to
    assert remote_tip(gitops) == before

    code, out = run_step(mlapp, tmp_path, *ROLLBACK, FOUND)
    assert code == 0 and "verified 1 provenance attestation" in out, out
    release = remote_release(gitops, env)
    assert release is not None
    assert (release["image"], release["action"]) == (image("a"), "rollback")
    assert release["rolled_back_from"] == image("b").split("@")[1]


@pytest.mark.slow
def test_pipeline_outputs_step_pulls_the_remotes_outputs_and_trains_nothing(
    trained_project: Path, tmp_path: Path
) -> None:
    """cd's and pr's `make pipeline-outputs` in a fresh checkout: what the DVC remote has is pulled."""
    trained = copy_project(trained_project, tmp_path / "trained")
    remote = tmp_path / "dvc-remote"
    sh("dvc", "remote", "modify", "--local", "sample", "url", remote, cwd=trained)
    sh("dvc", "push", "-q", cwd=trained)
    checkout = tmp_path / "checkout"  # what actions/checkout gives a job: git files only
    sh("git", "clone", "-q", trained, checkout, cwd=tmp_path)
    sh("dvc", "remote", "modify", "--local", "sample", "url", remote, cwd=checkout)
    assert not (checkout / "models").exists()
    argv, _env = command("cd.yml", "build", "make pipeline-outputs")
    done = sh(*argv, "RUN=", cwd=checkout)  # RUN=: the recipe's `dvc repro --pull` in this environment
    assert "Running stage" not in done.stdout, done.stdout
    for output in ("models/model.ubj", "metrics/metrics.json"):
        assert (checkout / output).read_bytes() == (trained / output).read_bytes(), output
    assert sh("dvc", "status", cwd=checkout).stdout.strip() == "Data and pipelines are up to date."
    argv, _env = command("cd.yml", "build", "make check-clean")  # the next step: nothing to commit
    assert sh(*argv, cwd=checkout).returncode == 0


def test_check_clean_step_fails_on_a_changed_tracked_file(gitops: Path) -> None:
    """ci's last step: the tests and tools left no tracked file changed."""
    shutil.copy2(REPO / "Makefile", gitops / "Makefile")
    sh("git", "add", "Makefile", cwd=gitops)
    sh("git", "commit", "-qm", "make", cwd=gitops)
    argv, _env = command("ci.yml", "test", "make check-clean")
    assert sh(*argv, cwd=gitops).returncode == 0
    (gitops / "params.yaml").write_text((gitops / "params.yaml").read_text() + "# generated\n")
    done = sh(*argv, cwd=gitops, check=False)
    assert done.returncode != 0 and "+# generated" in done.stdout, done.stdout


# The sets the jobs install: what the job's commands import is there, dev tools are not. Smallest
# first: each adds to the one before (pyproject.toml's extras and dev group nest).
SETS = {
    "sync-core": (["mlapp.report.github"], {"mlapp"}, {"dvc", "mlflow", "bentoml", "pytest"}),
    "sync-pipeline": (
        ["mlapp.report.run", "mlapp.report.gate", "mlapp.monitor.retrain"],
        {"dvc", "mlflow"},
        {"bentoml", "pytest"},
    ),
    "sync-delivery": (
        ["mlapp.delivery.commands", "mlapp.image.build", "mlapp.serving.smoke"],
        {"dvc", "mlflow", "bentoml", "kubernetes-validate"},
        {"pytest", "ruff", "mypy", "zizmor"},
    ),
    "sync": (
        ["mlapp.delivery.github", "mlapp.workflows"],
        {"pytest", "ruff", "mypy", "zizmor", "check-jsonschema"},
        set(),
    ),
}


@pytest.mark.slow
def test_sync_steps_install_what_their_jobs_run(tmp_path: Path) -> None:
    """`make sync-*` as the jobs call it, into a throwaway environment (from uv's cache, offline).

    One environment, the sets in SETS' order: a new one per set compiled the same libraries
    (pandas, mlflow...) again for each. Each target's own sync without `--inexact` (a dry run)
    must then change nothing, so the environment is exactly what that target installs into an
    empty one: nothing a smaller set left behind is there to import or to find on PATH.
    """
    from mlapp import template

    project, venv = tmp_path / "checkout", tmp_path / "venv"
    template.copy_tree(REPO, project)
    env = {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_OFFLINE": "1"}
    for target, (imports, present, absent) in SETS.items():
        steps = {(file, job) for file, job, line in run_steps() if line == f"make {target}"}
        assert steps, f"no workflow runs make {target}"
        sh("make", "--no-print-directory", target, cwd=project, env=env)
        exact = sh(
            "make", "--no-print-directory", target, "SYNC=uv sync --locked --dry-run", cwd=project, env=env
        )
        assert "Would make no changes" in exact.stderr, f"make {target} installs less alone:\n{exact.stderr}"
        assert {p for p in present | absent if (venv / "bin" / p).exists()} == present, (target, steps)
        sh(venv / "bin" / "python", "-c", "; ".join(f"import {m}" for m in imports), cwd=project)


# --- every run: step has a test that runs it with the same arguments, or a reason why none can ---

E2E = "tests/delivery/test_release_e2e.py::test_release_cycle_with_real_service_and_registry"
KIND = "tests/delivery/test_release_e2e.py::test_kind_e2e_command_against_a_fake_cluster_and_a_real_service"
HERE = "tests/delivery/test_workflow_steps.py::test_"
PR = "tests/report/test_report_e2e.py::test_worse_model_is_reported_worse_and_blocked"
RETRAIN = "tests/monitor/test_retrain.py::test_drifted_batch_opens_the_retraining_pr_path"
# Run lines after `uv run --frozen --no-sync ` (test_workflows.py holds every uv step to that prefix).
RUN_BY = {
    "mlapp delivery image-metadata": "tests/delivery/test_github_and_cluster.py::test_image_metadata_outputs",
    "make image-context": "tests/image/test_dockerfile.py::"
    "test_context_holds_the_bento_the_dockerfile_and_hashed_serving_requirements",
    "make e2e": KIND,
    **{f"make {target}": HERE + "sync_steps_install_what_their_jobs_run" for target in SETS},
    "make pipeline-outputs": HERE + "pipeline_outputs_step_pulls_the_remotes_outputs_and_trains_nothing",
    "make check-clean": HERE + "check_clean_step_fails_on_a_changed_tracked_file",
    f"mlapp delivery deploy --env {FIRST} --verify-attestation --push": HERE
    + "cd_deploy_step_records_the_attested_build_and_refuses_an_unattested_one",
    f"mlapp delivery wait --env {FIRST} --fetch": E2E,
    f"mlapp delivery smoke --env {FIRST} --fetch": E2E,
    'mlapp pipeline register --tag "image.digest=${IMAGE_DIGEST}" --tag "image.ref=${IMAGE_REF}"': E2E,
    f"mlapp delivery accept --env {FIRST} --push": E2E,
    "mlapp delivery promote --verify-attestation --push": HERE
    + "promote_step_commits_the_attested_digest_and_refuses_an_unattested_one",
    'mlapp delivery wait --env "$PROMOTE_TO" --fetch': E2E,
    'mlapp delivery smoke --env "$PROMOTE_TO" --fetch': E2E,
    'mlapp delivery accept --env "$PROMOTE_TO" --push': E2E,
    'mlapp delivery rollback --env "$ROLLBACK_ENV" --verify-attestation --push': HERE
    + "rollback_step_restores_the_attested_release_and_refuses_an_unattested_one",
    'mlapp delivery wait --env "$ROLLBACK_ENV" --fetch': E2E,
    'mlapp delivery smoke --env "$ROLLBACK_ENV" --fetch': E2E,
    'mlapp delivery accept --env "$ROLLBACK_ENV" --push': E2E,
    'mlapp report run --no-gate --base "$BASE_SHA"': PR,
    "mlapp report gate": PR,
    'mlapp report comment --run-id "$RUN_ID" --report "$REPORT"': "tests/report/test_github.py::"
    "test_cli_comment_uses_only_the_api_and_leaves_git_config_alone",
    'mlapp monitor has-source --github-output "$GITHUB_OUTPUT" --summary "$GITHUB_STEP_SUMMARY"': "tests/"
    "monitor/test_workflow.py::test_the_gate_step_as_the_workflow_runs_it",
    "mlapp monitor run --exit-zero"
    ' --github-output "$GITHUB_OUTPUT" --summary "$GITHUB_STEP_SUMMARY"': RETRAIN,
    'mlapp monitor retrain-prepare --github-output "$GITHUB_OUTPUT"': RETRAIN,
    "mlapp monitor retrain-publish": RETRAIN,
    "mlapp monitor retrain-pr": RETRAIN,
}
NOT_RUN = {
    "make test": "the test suite itself",
    "make lint": "the lint job itself (ruff, mypy, deptry, uv lock --check); its workflow and "
    "manifest checks also run in test_workflows.py and test_infra.py",
    "make actionlint": "needs a Go toolchain and the Go module proxy",
    "make image": "needs docker or podman: .ci/run runs it after `make test`",
    "make audit": "needs the network (PyPI's JSON API); its wiring: tests/core/test_audit.py",
}


def test_every_run_step_is_run_by_a_test_or_says_why_not() -> None:
    """A new or changed `run:` line fails here until a test runs it (RUN_BY) or NOT_RUN says why."""
    lines = {line.removeprefix(UV) for _file, _job, line in run_steps()}
    assert not set(RUN_BY) & set(NOT_RUN)
    unlisted = sorted(lines - set(RUN_BY) - set(NOT_RUN))
    assert not unlisted, f"run: steps that no test runs: {unlisted}"
    stale = sorted((set(RUN_BY) | set(NOT_RUN)) - lines)
    assert not stale, f"listed, but no workflow runs them: {stale}"
    for line, test in RUN_BY.items():
        path, name = test.split("::")
        module = (REPO / path).read_text()
        assert f"\ndef {name}(" in module, f"{test} does not exist"
        # It takes the command from the workflow file, or spells out each of its words.
        words = [w for w in shlex.split(line)[1:] if "$" not in w]
        takes = "from tests.delivery.steps import" in module
        assert takes or all(repr(w) in module or f'"{w}"' in module for w in words), (line, test)
