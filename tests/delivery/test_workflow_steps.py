"""promote.yml's and rollback.yml's first steps, run with the workflow's own words and env.

Each step's argv and env come from the workflow file (tests/delivery/steps.py), with the
dispatch inputs at their defaults. The deploy branch lives in a local bare ``origin``; ``gh`` is
a stand-in on PATH that records its arguments and either finds the attestation or does not.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import sh
from tests.delivery.conftest import bin_dir, digest, image, path_with
from tests.delivery.steps import command, load

REPOSITORY = "acme/churn"
FOUND = "echo '[{\"verificationResult\": {}}]'"
NOT_FOUND = 'echo "no attestations found for the subject" >&2; exit 1'


def defaults(workflow: str) -> dict[str, str]:
    """``inputs.*`` of a manual run that keeps every default."""
    inputs = (load(workflow)[True]["workflow_dispatch"] or {}).get("inputs", {})  # YAML 1.1: `on` is True
    return {f"inputs.{name}": str(spec.get("default", "")) for name, spec in inputs.items()}


def gh(tmp_path: Path, body: str) -> str:
    script = f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/gh.log"\n{body}\n'
    return path_with(bin_dir(tmp_path, "gh", script))


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
    argv, env = command(workflow, job, starts, inputs, runner={"GITHUB_REPOSITORY": REPOSITORY})
    assert argv[0] == "mlapp", argv
    return mlapp(*argv[1:], env={**env, "PATH": gh(tmp_path, gh_body)})


def verified_subject(tmp_path: Path) -> str:
    argv = (tmp_path / "gh.log").read_text().splitlines()[-1].split()
    assert argv[:2] == ["attestation", "verify"] and argv[argv.index("--repo") + 1] == REPOSITORY, argv
    return argv[2]


DEPLOY = ("cd.yml", "staging", "uv run --frozen --no-sync mlapp delivery deploy ")
PROMOTE = ("promote.yml", "promote", "uv run --frozen --no-sync mlapp delivery promote ")
ROLLBACK = ("rollback.yml", "rollback", "uv run --frozen --no-sync mlapp delivery rollback ")


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
    release = remote_release(gitops, "staging")
    assert release is not None
    assert (release["image"], release["action"], release["status"]) == (image("a"), "deploy", "deployed")


def test_promote_step_commits_the_attested_digest_and_refuses_an_unattested_one(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    released(mlapp, "staging", "a")
    before = remote_tip(gitops)
    code, out = run_step(mlapp, tmp_path, *PROMOTE, NOT_FOUND)
    assert code != 0 and "no attestations found for the subject" in out, out
    assert verified_subject(tmp_path) == f"oci://{image('a')}"
    assert remote_tip(gitops) == before and remote_release(gitops, "production") is None

    code, out = run_step(mlapp, tmp_path, *PROMOTE, FOUND)
    assert code == 0 and "verified 1 provenance attestation" in out, out
    release = remote_release(gitops, "production")
    assert release is not None
    assert (release["image"], release["action"], release["status"]) == (image("a"), "promote", "deployed")
    assert release["promoted_from"] == "staging"


def test_rollback_step_restores_the_attested_release_and_refuses_an_unattested_one(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    env = defaults("rollback.yml")["inputs.env"]  # the workflow's default target
    for char in "ab":  # two verified releases there: b runs, a is the one to return to
        released(mlapp, "staging", char)
        if env != "staging":
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
