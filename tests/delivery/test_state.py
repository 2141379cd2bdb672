"""Deploy / accept / promote / rollback on a real deploy branch in a temporary git repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import sh
from tests.delivery.conftest import digest, image, remote_log

from mlapp.delivery import kube
from mlapp.delivery.git import Git
from mlapp.delivery.images import ImageError, parse
from mlapp.delivery.state import RELEASE_FILE, StateStore, Who


def release_on_remote(work: Path, env: str) -> dict:
    text = sh(
        "git", "--git-dir", str(work.parent / "origin.git"), "show", f"deploy:{env}/{RELEASE_FILE}", cwd=work
    ).stdout
    return json.loads(text)


def test_image_must_be_a_digest() -> None:
    assert parse(image("a")).name == "ghcr.io/acme/churn"
    assert parse("ghcr.io/acme/churn:v1@" + digest("b")).digest == digest("b")
    for bad in (
        "ghcr.io/acme/churn:latest",
        "ghcr.io/acme/churn@sha256:abc",
        "ghcr.io/Acme/churn@" + digest("a"),
        "churn@" + digest("a"),
    ):
        with pytest.raises(ImageError):
            parse(bad)


def test_deploy_writes_digest_pinned_manifests_that_validate(gitops: Path, mlapp) -> None:
    code, out = mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")
    assert code == 0, out
    release = release_on_remote(gitops, "staging")
    head = sh("git", "rev-parse", "HEAD", cwd=gitops).stdout.strip()
    assert release["digest"] == digest("a") and release["status"] == "deployed"
    assert release["source_commit"] == head == release["config_commit"]
    files = sh(
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "ls-tree",
        "-r",
        "--name-only",
        "deploy",
        cwd=gitops,
    ).stdout.split()
    # Only this environment's folder, with its own overlay and the shared base, nothing else.
    assert all(f.startswith("staging/") for f in files)
    assert "staging/infra/overlays/staging/kustomization.yaml" in files
    assert not any("overlays/production" in f for f in files)

    export = gitops.parent / "export"
    export.mkdir()
    archive = sh(
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "archive",
        "-o",
        str(export / "s.tar"),
        "deploy",
        "staging/",
        cwd=gitops,
    )
    assert archive.returncode == 0
    sh("tar", "-xf", "s.tar", cwd=export)
    overlay = export / "staging/infra/overlays/staging"
    objects = kube.render(overlay)
    images = [
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert images == [image("a")]
    assert kube.check_overlay(overlay, "1.32", require_digest=True) == []


def test_full_release_cycle(gitops: Path, mlapp) -> None:
    assert mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")[0] == 0
    # Not verified yet: nothing can be promoted.
    code, out = mlapp("delivery", "promote", "--push")
    assert code != 0 and "no verified release" in out
    assert mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "promote", "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", "production", "--push", "--no-registry")[0] == 0

    assert mlapp("delivery", "deploy", "--env", "staging", "--image", image("b"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")[0] == 0
    code, out = mlapp("delivery", "promote", "--digest", "current", "--push")
    assert code == 0, out
    prod = release_on_remote(gitops, "production")
    assert (prod["digest"], prod["action"], prod["promoted_from"]) == (digest("b"), "promote", "staging")

    code, out = mlapp("delivery", "rollback", "--env", "production", "--push")
    assert code == 0, out
    prod = release_on_remote(gitops, "production")
    assert prod["digest"] == digest("a") and prod["rolled_back_from"] == digest("b")
    assert prod["action"] == "rollback" and prod["status"] == "deployed"
    # Staging is untouched by production's moves.
    assert release_on_remote(gitops, "staging")["digest"] == digest("b")
    subjects = [line.split("|")[2] for line in remote_log(gitops, "production/")]
    assert subjects[0].startswith("rollback production: ") and subjects[1].startswith("promote production: ")

    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 0
    assert "production   deployed  sha256:aaaa" in out and "staging      verified  sha256:bbbb" in out


def test_promote_only_digests_that_passed_staging(gitops: Path, mlapp) -> None:
    mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")
    mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")
    mlapp(
        "delivery", "deploy", "--env", "staging", "--image", image("b"), "--push"
    )  # deployed, smoke not passed
    code, out = mlapp("delivery", "promote", "--digest", digest("b"), "--push")
    assert code != 0 and "never passed staging" in out
    # "current" means the latest *verified* staging release, not whatever staging runs now.
    assert mlapp("delivery", "promote", "--digest", "current", "--push")[0] == 0
    assert release_on_remote(gitops, "production")["digest"] == digest("a")
    code, out = mlapp("delivery", "promote", "--to", "staging", "--push")
    assert code != 0 and "nothing promotes into" in out


def test_rollback_needs_an_earlier_verified_release(gitops: Path, mlapp) -> None:
    code, out = mlapp("delivery", "rollback", "--env", "production", "--push")
    assert code != 0 and "never been deployed" in out
    mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")
    mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")
    mlapp("delivery", "promote", "--push")
    code, out = mlapp("delivery", "rollback", "--env", "production", "--push")
    assert code != 0 and "no earlier verified release" in out


def test_rollback_skips_a_release_that_failed_its_smoke_test(gitops: Path, mlapp) -> None:
    for char in "abc":
        mlapp("delivery", "deploy", "--env", "staging", "--image", image(char), "--push")
        mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")
    mlapp("delivery", "promote", "--digest", digest("a"), "--push")
    mlapp("delivery", "accept", "--env", "production", "--push", "--no-registry")
    mlapp("delivery", "promote", "--digest", digest("b"), "--push")  # b never verified in production
    mlapp("delivery", "promote", "--digest", digest("c"), "--push")  # c is live, smoke failed
    assert mlapp("delivery", "rollback", "--env", "production", "--push")[0] == 0
    assert release_on_remote(gitops, "production")["digest"] == digest("a")
    code, out = mlapp("delivery", "rollback", "--env", "production", "--to-digest", digest("b"), "--push")
    assert code != 0 and "no verified release with" in out


def test_rollback_restores_the_manifests_that_ran(gitops: Path, mlapp) -> None:
    """A bad manifest change is undone by a rollback too, not only the image."""
    mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")
    mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")
    mlapp("delivery", "promote", "--push")
    mlapp("delivery", "accept", "--env", "production", "--push", "--no-registry")
    hpa = gitops / "infra/base/hpa.yaml"
    hpa.write_text(hpa.read_text().replace("averageUtilization: 70", "averageUtilization: 95"))
    sh("git", "commit", "-qam", "tune hpa", cwd=gitops)
    mlapp("delivery", "deploy", "--env", "staging", "--image", image("b"), "--push")
    mlapp("delivery", "accept", "--env", "staging", "--push", "--no-registry")
    mlapp("delivery", "promote", "--push")
    show = [
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "show",
        "deploy:production/infra/base/hpa.yaml",
    ]
    assert "averageUtilization: 95" in sh(*show, cwd=gitops).stdout
    mlapp("delivery", "rollback", "--env", "production", "--push")
    assert "averageUtilization: 70" in sh(*show, cwd=gitops).stdout


def test_accept_refuses_when_the_environment_changed_meanwhile(gitops: Path, mlapp) -> None:
    mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push")
    mlapp(
        "delivery", "deploy", "--env", "staging", "--image", image("b"), "--push"
    )  # lands while `a` is smoke-tested
    code, out = mlapp(
        "delivery", "accept", "--env", "staging", "--digest", digest("a"), "--push", "--no-registry"
    )
    assert code != 0 and "not the tested" in out
    assert release_on_remote(gitops, "staging")["status"] == "deployed"

    from mlapp.delivery import ops
    from mlapp.params import load_params

    ctx = ops.Context.open(load_params("params.yaml").delivery, Path(), sync=True)
    with pytest.raises(ops.StateError, match="changed while it was being verified"):
        ops.accept(ctx, "staging", None, digest("a"))


def test_concurrent_writer_is_rebased_not_overwritten(gitops: Path, tmp_path: Path) -> None:
    """Staging and production jobs push to one branch: a rejected push retries on the new tip."""
    from mlapp.delivery import ops
    from mlapp.params import load_params

    params = load_params("params.yaml")
    other = tmp_path / "other"
    sh("git", "clone", "-q", "-b", "main", str(gitops.parent / "origin.git"), str(other), cwd=tmp_path)
    ctx = ops.Context.open(params.delivery, Path(), sync=True)
    ops.deploy(ctx, "staging", parse(image("a")), None, None)

    store = ctx.store
    calls = {"n": 0}

    def racing_write(env, build, who):  # another job pushes right after our fetch
        def build_and_race(base):
            calls["n"] += 1
            if calls["n"] == 1:
                other_ctx = ops.Context.open(params.delivery, other, sync=True)
                other_ctx.store.fetch()
                ops.deploy(other_ctx, "staging", parse(image("c")), "f" * 40, None)
            return build(base)

        return StateStore.write(store, env, build_and_race, who)

    store.write = racing_write  # type: ignore[method-assign]
    ops.deploy(ctx, "production", parse(image("b")), None, None)
    assert calls["n"] == 2  # built twice: the first push was rejected
    assert store.read("production").digest == digest("b")
    assert store.read("staging").digest == digest("c")  # the other writer's change survived


def test_local_mode_never_touches_the_remote_or_worktree(gitops: Path, mlapp) -> None:
    (gitops / "scratch.txt").write_text("uncommitted work")
    code, out = mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"))
    assert code == 0, out
    assert sh("git", "rev-parse", "--verify", "-q", "refs/heads/deploy", cwd=gitops).returncode == 0
    remote = sh(
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "rev-parse",
        "--verify",
        "-q",
        "deploy",
        cwd=gitops,
        check=False,
    )
    assert remote.returncode != 0
    assert (gitops / "scratch.txt").read_text() == "uncommitted work"
    assert sh("git", "status", "--porcelain", cwd=gitops).stdout.strip() == "?? scratch.txt"


def test_ci_identity_author_is_the_actor_committer_the_bot(gitops: Path, mlapp) -> None:
    env = {
        "GITHUB_ACTOR": "octocat",
        "GITHUB_ACTOR_ID": "583231",
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SHA": "e" * 40,
    }
    code, out = mlapp("delivery", "deploy", "--env", "staging", "--image", image("a"), "--push", env=env)
    assert code == 0, out
    assert remote_log(gitops)[0].split("|")[:2] == ["octocat", "github-actions[bot]"]
    release = release_on_remote(gitops, "staging")
    assert release["deployed_by"] == "octocat" and release["source_commit"] == "e" * 40
    assert release["run_url"] == "https://github.com/acme/churn/actions/runs/42/attempts/1"
    body = sh(
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "log",
        "-1",
        "--format=%B",
        "deploy",
        cwd=gitops,
    ).stdout
    assert "Deployed-By: octocat" in body and "Run: https://github.com/acme/churn/actions/runs/42" in body


def test_token_goes_to_git_as_env_config_never_argv() -> None:
    from mlapp.delivery.git import auth_env

    env = auth_env("https://github.com/acme/churn", {"GH_TOKEN": "s3cret"})
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert "s3cret" not in env["GIT_CONFIG_VALUE_0"]  # base64 of x-access-token:s3cret
    assert auth_env("/tmp/origin.git", {"GH_TOKEN": "s3cret"}) == {}
    assert auth_env("https://github.com/acme/churn", {}) == {}


def test_deploy_records_the_model_version(gitops: Path, mlapp) -> None:
    model = gitops / "models"
    model.mkdir()
    (model / "model.ubj").write_bytes(b"not really a model, but hashed like one")
    code, out = mlapp(
        "delivery", "deploy", "--env", "staging", "--image", image("a"), "--model-dir", "models", "--push"
    )
    assert code == 0, out
    import hashlib

    sha = hashlib.sha256((model / "model.ubj").read_bytes()).hexdigest()
    release = release_on_remote(gitops, "staging")
    assert (release["model_version"], release["model_sha256"]) == (sha[:12], sha)
    assert f"(model {sha[:12]})" in remote_log(gitops)[0]


def test_unknown_environment_and_missing_overlay(gitops: Path, mlapp) -> None:
    code, out = mlapp("delivery", "deploy", "--env", "qa", "--image", image("a"))
    assert code != 0 and "unknown environment 'qa'" in out
    raw = yaml.safe_load((gitops / "params.yaml").read_text())
    raw["delivery"]["environments"] = ["staging", "qa", "production"]
    (gitops / "params.yaml").write_text(yaml.safe_dump(raw))
    code, out = mlapp("delivery", "deploy", "--env", "qa", "--image", image("a"))
    assert code != 0 and "needs an overlay" in out


def test_who_outside_ci_uses_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    who = Who.from_env({})
    assert who.git_env() == {} and who.run_url is None
    assert Git(Path()).rev("refs/heads/does-not-exist-anywhere") is None
