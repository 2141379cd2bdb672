"""Deploy / accept / promote / rollback: commits on a real deploy branch in a temporary git repo."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.conftest import sh
from tests.delivery.conftest import FIRST, LAST, bin_dir, digest, image, path_with, remote_log

from mlapp import proc
from mlapp.delivery import kube, ops
from mlapp.delivery.state import RELEASE_FILE, Branch, StateError, check_digest, image_ref, who
from mlapp.git import auth_env
from mlapp.params import load_params
from mlapp.schema import FEATURES
from mlapp.serving.smoke import case, schema_records
from mlapp.template import rename


def on_remote(work: Path, path: str) -> str:
    return sh("git", "--git-dir", str(work.parent / "origin.git"), "show", f"deploy:{path}", cwd=work).stdout


def release_on_remote(work: Path, env: str) -> dict:
    return json.loads(on_remote(work, f"{env}/{RELEASE_FILE}"))


def objects_on_remote(work: Path, env: str, ref: str = "deploy") -> list[dict]:
    text = sh(
        "git", "--git-dir", str(work.parent / "origin.git"), "show", f"{ref}:{env}/manifests.yaml", cwd=work
    )
    return [o for o in yaml.safe_load_all(text.stdout) if o]


def verified_in_production(mlapp, char: str) -> None:
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image(char), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", LAST, "--push", "--no-registry")[0] == 0


def test_image_must_be_a_digest() -> None:
    assert image_ref(image("a")) == image("a")
    assert image_ref("ghcr.io/acme/churn:v1@" + digest("a")) == image("a")  # the tag is dropped
    assert image_ref("kind-registry:5000/mlapp@" + digest("b")) == "kind-registry:5000/mlapp@" + digest("b")
    for bad in (
        "ghcr.io/acme/churn:latest",
        "ghcr.io/acme/churn@sha256:abc",
        "ghcr.io/Acme/churn@" + digest("a"),
    ):
        with pytest.raises(StateError, match=r"not an image reference by digest: .*, all lower case"):
            image_ref(bad)
    assert check_digest(digest("a")) == digest("a")
    with pytest.raises(StateError, match="not a digest"):
        check_digest("sha256:ABC")


def test_deploy_writes_rendered_digest_pinned_manifests(gitops: Path, mlapp) -> None:
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code == 0, out
    release = release_on_remote(gitops, FIRST)
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
    assert files == [f"{FIRST}/kustomization.yaml", f"{FIRST}/manifests.yaml", f"{FIRST}/release.json"]
    objects = objects_on_remote(gitops, FIRST)
    containers = [c["image"] for o in objects for c in kube.containers(o)]
    assert containers == [image("a")]
    assert (
        kube.schema_errors(objects, "1.32") == [] and kube.policy_errors(objects, require_digest=True) == []
    )
    # The folder is what Argo CD / Flux / kubectl -k read: kustomize renders it to the same objects.
    folder = gitops.parent / "export"
    sh("git", "worktree", "add", "-q", "--detach", str(folder), "origin/deploy", cwd=gitops)
    assert kube.render(folder / FIRST) == objects
    assert f"desired state recorded; Argo CD Application mlapp-{FIRST} syncs it" in out


def test_full_release_cycle(gitops: Path, mlapp) -> None:
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    code, out = mlapp("delivery", "promote", "--to", LAST, "--push")
    assert code != 0 and "no verified release" in out  # not smoke-tested yet: nothing to promote
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", LAST, "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    code, out = mlapp("delivery", "promote", "--to", LAST, "--digest", "current", "--push")
    assert code == 0, out
    prod = release_on_remote(gitops, LAST)
    assert (prod["digest"], prod["action"], prod["promoted_from"]) == (digest("b"), "promote", FIRST)
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--push")
    assert code == 0, out
    prod = release_on_remote(gitops, LAST)
    assert prod["digest"] == digest("a") and prod["rolled_back_from"] == digest("b")
    assert (prod["action"], prod["status"]) == ("rollback", "deployed")
    assert release_on_remote(gitops, FIRST)["digest"] == digest("b")  # untouched by production's moves
    subjects = [line.split("|")[2] for line in remote_log(gitops, f"{LAST}/")]
    assert subjects[0].startswith(f"rollback {LAST}: ") and subjects[1].startswith(f"promote {LAST}: ")
    code, out = mlapp("delivery", "status", "--fetch")
    assert f"{LAST:<12} deployed  sha256:aaaa" in out and f"{FIRST:<12} verified  sha256:bbbb" in out


def test_promote_copies_the_digest_and_the_manifests_staging_was_tested_with(gitops: Path, mlapp) -> None:
    mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")
    tested = release_on_remote(gitops, FIRST)["config_commit"]
    hpa = gitops / "infra/base/hpa.yaml"  # main moves on after staging's test
    hpa.write_text(hpa.read_text().replace("averageUtilization: 70", "averageUtilization: 95"))
    sh("git", "commit", "-qam", "tune hpa", cwd=gitops)
    mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")  # deployed, not verified
    code, out = mlapp("delivery", "promote", "--to", LAST, "--digest", digest("b"), "--push")
    assert code != 0 and f"never passed {FIRST}" in out
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0
    prod = release_on_remote(gitops, LAST)
    assert (prod["digest"], prod["config_commit"]) == (digest("a"), tested)
    hpas = [o for o in objects_on_remote(gitops, LAST) if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpas[0]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert {o["metadata"]["namespace"] for o in objects_on_remote(gitops, LAST)} == {f"mlapp-{LAST}"}
    code, out = mlapp("delivery", "promote", "--to", FIRST, "--push")
    assert code != 0 and "nothing promotes into it" in out


def test_rollback_is_a_commit_that_removes_what_the_bad_release_added(gitops: Path, mlapp) -> None:
    verified_in_production(mlapp, "a")
    good = objects_on_remote(gitops, LAST)
    extra = gitops / "infra/base/debug.yaml"  # the bad release adds an object
    extra.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\ndata:\n  verbose: 'true'\n")
    kustomization = gitops / "infra/base/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - debug.yaml\n")
    sh("git", "add", "-A", cwd=gitops)
    sh("git", "commit", "-qm", "debug config", cwd=gitops)
    mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")
    mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")
    mlapp("delivery", "promote", "--to", LAST, "--push")  # live, smoke test fails: not verified
    bad = objects_on_remote(gitops, LAST)
    keys = lambda objects: {kube.key(o) for o in objects}  # noqa: E731
    assert keys(bad) - keys(good) == {f"ConfigMap/mlapp-{LAST}/debug"} and keys(good) <= keys(bad)
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--push")
    assert code == 0, out
    restored = objects_on_remote(gitops, LAST)
    assert keys(bad) - keys(restored) == {f"ConfigMap/mlapp-{LAST}/debug"}  # what Argo CD's prune deletes
    assert restored == good


def test_rollback_skips_releases_that_failed_their_smoke_test(gitops: Path, mlapp) -> None:
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--push")
    assert code != 0 and "never been deployed" in out
    verified_in_production(mlapp, "a")
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--push")
    assert code != 0 and "no earlier verified release" in out
    for char in "bc":
        mlapp("delivery", "deploy", "--env", FIRST, "--image", image(char), "--push")
        mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")
        mlapp("delivery", "promote", "--to", LAST, "--digest", digest(char), "--push")
    assert mlapp("delivery", "rollback", "--env", LAST, "--push")[0] == 0
    assert release_on_remote(gitops, LAST)["digest"] == digest("a")
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--to-digest", digest("b"), "--push")
    assert code != 0 and "no verified release with" in out


def test_accept_refuses_when_the_environment_changed_meanwhile(gitops: Path, mlapp, tmp_path: Path) -> None:
    mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")  # lands during a's test
    code, out = mlapp(
        "delivery", "accept", "--env", FIRST, "--digest", digest("a"), "--push", "--no-registry"
    )
    assert code != 0 and "runs sha256:bbbb" in out and "not the tested" in out
    assert release_on_remote(gitops, FIRST)["status"] == "deployed"
    # c lands after this job fetched (b was current): the commit is checked against the new tip.
    delivery = load_params("params.yaml").delivery
    branch = Branch(delivery, sync=True)
    other = tmp_path / "other"
    sh("git", "clone", "-q", "-b", "main", str(gitops.parent / "origin.git"), str(other), cwd=tmp_path)
    elsewhere = Branch(delivery, other, sync=True)
    ops.record(elsewhere, ops.deploy(elsewhere, FIRST, image("c"), None))
    with pytest.raises(StateError, match=r"runs sha256:c+, not the tested sha256:b+"):
        ops.accept(branch, FIRST, digest("b"), None)
    assert release_on_remote(gitops, FIRST)["digest"] == digest("c")


def test_concurrent_writer_is_rebased_not_overwritten(
    gitops: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs of different environments share the branch: a rejected push (exit 1) is redone on the new
    tip; the fetch that finds the tip moved is the next attempt's base, not fetched again."""
    params = load_params("params.yaml")
    other = tmp_path / "other"
    sh("git", "clone", "-q", "-b", "main", str(gitops.parent / "origin.git"), str(other), cwd=tmp_path)
    log = tmp_path / "git.log"  # every git command this clone runs: a fetch is a network round trip
    wrapper = f'#!/bin/sh\necho "$(pwd -P) $1" >> "{log}"\nexec {shutil.which("git")} "$@"\n'
    monkeypatch.setenv("PATH", path_with(bin_dir(tmp_path, "git", wrapper)))
    branch = Branch(params.delivery, sync=True)
    ops.record(branch, ops.deploy(branch, FIRST, image("a"), None))
    log.unlink()
    calls = {"n": 0}
    original = branch.write

    def racing_write(env, change):  # another job pushes right after our fetch
        def change_and_race(tree, base):
            calls["n"] += 1
            if calls["n"] == 1:
                elsewhere = Branch(params.delivery, other, sync=True)
                ops.record(elsewhere, ops.deploy(elsewhere, FIRST, image("c"), None))
            return change(tree, base)

        return original(env, change_and_race)

    branch.write = racing_write  # type: ignore[method-assign]
    ops.record(branch, ops.deploy(branch, LAST, image("b"), None))
    assert calls["n"] == 2  # changed twice: the first push was rejected
    assert log.read_text().splitlines().count(f"{gitops.resolve()} fetch") == 2  # one per attempt
    assert branch.read(LAST, branch.tip()).digest == digest("b")
    assert branch.read(FIRST, branch.tip()).digest == digest("c")  # the other writer's change survived


def test_local_writer_that_lost_the_race_is_redone_on_the_new_tip(gitops: Path) -> None:
    """Two deploys without --push at once in one clone: the push into this repository that finds
    the branch moved (not a fast-forward, exit 1) is redone on the new tip, as a rejected push is."""
    params = load_params("params.yaml")
    branch = Branch(params.delivery)
    ops.record(branch, ops.deploy(branch, FIRST, image("a"), None))
    calls = {"n": 0}
    original = branch.write

    def racing_write(env, change):  # another local deploy moves the branch after our base was read
        def change_and_race(tree, base):
            calls["n"] += 1
            if calls["n"] == 1:
                elsewhere = Branch(params.delivery)
                ops.record(elsewhere, ops.deploy(elsewhere, FIRST, image("c"), None))
            return change(tree, base)

        return original(env, change_and_race)

    branch.write = racing_write  # type: ignore[method-assign]
    ops.record(branch, ops.deploy(branch, LAST, image("b"), None))
    assert calls["n"] == 2
    assert branch.read(LAST, branch.tip()).digest == digest("b") and branch.read(
        FIRST, branch.tip()
    ).digest == digest("c")
    # Any other failure of the push still stops, with git's own error: here a lock left behind.
    lock = gitops / ".git" / "refs" / "heads" / "deploy.lock"
    lock.write_text("")
    refused = r"(?s)`git push --no-verify \.` failed \(exit 1\):.*cannot lock ref 'refs/heads/deploy'"
    with pytest.raises(proc.CommandError, match=refused):
        ops.record(branch, ops.deploy(branch, LAST, image("d"), None))
    lock.unlink()
    assert branch.read(LAST, branch.tip()).digest == digest("b")


def test_local_mode_never_touches_the_remote_or_the_checkout(gitops: Path, mlapp) -> None:
    (gitops / "scratch.txt").write_text("uncommitted work")
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"))
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
    assert sh("git", "status", "--porcelain", cwd=gitops).stdout.strip() == "?? scratch.txt"
    assert sh("git", "worktree", "list", "--porcelain", cwd=gitops).stdout.count("worktree ") == 1
    assert "mlapp-orphan" not in sh("git", "branch", "--list", cwd=gitops).stdout


def test_ci_identity_author_is_the_actor_committer_the_bot(gitops: Path, mlapp) -> None:
    env = {
        "GITHUB_ACTOR": "octocat",
        "GITHUB_ACTOR_ID": "583231",
        "GITHUB_REPOSITORY": "acme/churn",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": "e" * 40,
    }
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push", env=env)
    assert code == 0, out
    assert remote_log(gitops)[0].split("|")[:2] == ["octocat", "github-actions[bot]"]
    release = release_on_remote(gitops, FIRST)
    assert release["deployed_by"] == "octocat" and release["source_commit"] == "e" * 40
    assert release["run_url"] == "https://github.com/acme/churn/actions/runs/42"


def test_token_goes_to_git_as_env_config_never_argv() -> None:
    env = auth_env("https://github.com/acme/churn", {"GH_TOKEN": "s3cret"})
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    assert "s3cret" not in env["GIT_CONFIG_VALUE_0"]  # base64 of x-access-token:s3cret
    assert auth_env("/tmp/origin.git", {"GH_TOKEN": "s3cret"}) == {}
    assert who({})[2] == {}  # locally: the user's git config
    actor, run_url, identity = who({"GITHUB_ACTOR": "octocat", "GITHUB_ACTOR_ID": "1", "GITHUB_RUN_ID": "7",
                                    "GITHUB_REPOSITORY": "acme/churn"})  # fmt: skip
    assert (actor, run_url) == ("octocat", "https://github.com/acme/churn/actions/runs/7")
    assert identity["GIT_AUTHOR_EMAIL"] == "1+octocat@users.noreply.github.com"


def test_deploy_records_the_model_version(gitops: Path, mlapp, reference_project: Path) -> None:
    model = shutil.copytree(reference_project / "models", gitops / "models")  # deploy loads it
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code == 0, out
    # The model's digest: sha256 of sha256sum's listing of the booster and its spec.
    listing = "".join(
        f"{hashlib.sha256((model / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("model.ubj", "model_spec.json")
    )
    sha = hashlib.sha256(listing.encode()).hexdigest()
    release = release_on_remote(gitops, FIRST)
    assert (release["model_version"], release["model_sha256"]) == (sha[:12], sha)
    assert f"(model {sha[:12]})" in remote_log(gitops)[0]
    # What the smoke test of any later job sends, and this model's answers to it.
    assert release["smoke"]["records"] == schema_records(FEATURES)
    assert release["smoke"] == case(model)[1] and len(release["smoke"]["answers"]) == len(
        schema_records(FEATURES)
    )


def test_a_model_dir_without_a_model_is_refused_before_anything_is_recorded(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    # Recorded without a model, the release would have nothing for `wait` or `smoke` to check,
    # and both would then say "deploy it with --model-dir" to someone who did.
    code, out = mlapp(
        "delivery", "deploy", "--env", FIRST, "--image", image("a"), "--model-dir", str(tmp_path)
    )
    assert code == 2 and f"{tmp_path} holds no model.ubj" in out, out
    assert mlapp("delivery", "status")[1].startswith(f"{FIRST:<12} {FIRST} has never been deployed")


def test_status_says_which_branch_it_read(gitops: Path, mlapp) -> None:
    """A pushed deploy moves origin's branch, not the local one that `status` reads without
    --fetch: its last line says which it read, or the two answers would contradict each other."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    code, out = mlapp("delivery", "status")
    assert code == 0 and f"{FIRST:<12} {FIRST} has never been deployed" in out, out
    assert out.splitlines()[-1] == "the local branch deploy does not exist (not fetched)"
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 0 and f"{FIRST:<12} deployed" in out, out
    assert out.splitlines()[-1] == "read from origin/deploy, fetched"


def test_status_fetched_names_a_local_branch_that_differs(gitops: Path, mlapp) -> None:
    """`make deploy-status` (--fetch) after a local deploy said "never deployed", and only that."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"))[0] == 0
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 0 and f"{FIRST:<12} {FIRST} has never been deployed" in out, out
    last = out.splitlines()[-1]
    assert last.startswith("the local branch deploy has commits origin/deploy lacks (") and "reads it" in last
    sh("git", "push", "-q", "origin", "deploy", cwd=gitops)
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")[0] == 0
    code, out = mlapp("delivery", "status", "--fetch")  # the local branch only behind: nothing to add
    assert code == 0 and f"{FIRST:<12} deployed  sha256:bbbb" in out, out
    assert out.splitlines()[-1] == "read from origin/deploy, fetched", out


def test_a_failed_smoke_test_is_a_no_as_the_serving_smoke_says_it(
    gitops: Path, mlapp, reference_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlapp.serving import smoke

    def failed(*_args: object, **_kwargs: object) -> None:
        raise smoke.SmokeFailure("record 1: label 0 != expected 1")

    shutil.copytree(reference_project / "models", gitops / "models")
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"))[0] == 0
    monkeypatch.setattr(smoke, "check", failed)
    code, out = mlapp("delivery", "smoke", "--env", FIRST, "--url", "http://127.0.0.1:9")
    assert code == 1 and f"FAIL smoke test against {FIRST}: record 1: label 0 != expected 1" in out, out


def test_uncommitted_infra_is_named_before_anything_it_would_break(gitops: Path, mlapp) -> None:
    # `make init NAME=acme` with only params.yaml committed: the committed infra/ still has the
    # placeholder image `mlapp`, which the deploy (delivery.app acme) would find unpinned.
    rename(gitops, "acme")
    sh("git", "commit", "-qm", "init", "--", "params.yaml", cwd=gitops)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code != 0 and "StateError: uncommitted changes in infra/ are not deployed: commit them (" in out
    status = sh("git", "status", "--porcelain", "--untracked-files=all", "infra", cwd=gitops).stdout
    files = [line.split(maxsplit=1)[1] for line in status.splitlines()]  # counted: an environment adds some
    assert f"{', '.join(files[:3])} and {len(files) - 3} more: `git status infra`" in out, out
    assert "infra/argocd/applications.yaml" in files[:3], out
    assert "pinned" not in out, out
    sh("git", "add", "-A", cwd=gitops)
    sh("git", "commit", "-qm", "init infra", cwd=gitops)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code == 0 and f"Argo CD Application acme-{FIRST}" in out, out


def test_unknown_environment_and_missing_overlay(gitops: Path, mlapp) -> None:
    for args in (("deploy", "--env", "canary", "--image", image("a")), ("promote", "--to", "canary")):
        code, out = mlapp("delivery", *args, "--push")  # a usage error, before the fetch
        assert code == 2 and "Invalid value for '--" in out and "unknown environment 'canary'" in out, out
    raw = yaml.safe_load((gitops / "params.yaml").read_text())
    raw["delivery"]["environments"] = [FIRST, "canary", LAST]
    (gitops / "params.yaml").write_text(yaml.safe_dump(raw))
    code, out = mlapp("delivery", "deploy", "--env", "canary", "--image", image("a"))
    head = sh("git", "rev-parse", "HEAD", cwd=gitops).stdout.strip()
    assert (
        code != 0
        and f"StateError: no overlays/canary in commit {head[:12]}: deploy from one that has it" in out
    )
    # Promotion renders the commit the environment before was tested with: one from before canary
    # existed cannot be promoted into it; the next staging release (from a commit with it) can.
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    code, out = mlapp("delivery", "promote", "--to", "canary", "--push")
    assert code != 0 and f"no overlays/canary in commit {head[:12]}" in out, out
    shutil.copytree(gitops / f"infra/overlays/{FIRST}", gitops / "infra/overlays/canary")
    overlay = gitops / "infra/overlays/canary/kustomization.yaml"
    overlay.write_text(overlay.read_text().replace(FIRST, "canary"))
    sh("git", "add", "-A", cwd=gitops)
    sh("git", "commit", "-qm", "add canary", cwd=gitops)
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    code, out = mlapp("delivery", "promote", "--to", "canary", "--push")
    assert code == 0 and release_on_remote(gitops, "canary")["digest"] == digest("b"), out
    code, out = mlapp("delivery", "promote", "--to", LAST, "--push")  # from canary now, not staging
    assert code != 0 and "canary has no verified release yet" in out
    assert mlapp("delivery", "accept", "--env", "canary", "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0
    assert release_on_remote(gitops, LAST)["promoted_from"] == "canary"


def hand_edit(work: Path, tmp_path: Path, edit: Callable[[Path], object]) -> str:
    """A commit on the remote deploy branch that no deploy job made; returns the new tip."""
    clone = tmp_path / "hand"
    sh("git", "clone", "-q", "-b", "deploy", str(work.parent / "origin.git"), str(clone), cwd=tmp_path)
    edit(clone)
    sh("git", "add", "-A", cwd=clone)
    sh("git", "commit", "-qm", "edited by hand", cwd=clone)
    sh("git", "push", "-q", "origin", "deploy", cwd=clone)
    shutil.rmtree(clone)
    return sh(
        "git", "--git-dir", str(work.parent / "origin.git"), "rev-parse", "deploy", cwd=work
    ).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        (lambda tree: (tree / f"{FIRST}/manifests.yaml").unlink(), f"{FIRST}/manifests.yaml"),
        (
            lambda tree: (tree / FIRST / RELEASE_FILE).write_text(f'{{"environment": "{FIRST}"}}'),
            RELEASE_FILE,
        ),
        (lambda tree: (tree / FIRST / RELEASE_FILE).write_text("not json"), RELEASE_FILE),
    ],
    ids=["manifests-deleted", "release-incomplete", "release-not-json"],
)
def test_a_hand_edited_deploy_branch_is_named_never_trusted_and_repaired_by_a_deploy(
    gitops: Path, mlapp, tmp_path: Path, edit: Callable[[Path], object], changed: str
) -> None:
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    tip = hand_edit(gitops, tmp_path, edit)
    code, out = mlapp("delivery", "status", "--fetch")
    # A documented "no" (exit 1), the whole reason printed; production, never deployed, is no "no".
    assert code == 1 and f"{FIRST:<12} {FIRST} was edited by hand: " in out and changed in out, out
    assert "a deploy, promote or rollback rewrites it" in out and f"{LAST} has never been deployed" in out
    for args in (("accept", "--env", FIRST, "--no-registry"), ("wait", "--env", FIRST),
                 ("smoke", "--env", FIRST)):  # fmt: skip
        code, out = mlapp("delivery", *args, "--push" if args[0] == "accept" else "--fetch")
        # EditedByHand is a StateError, a UserError: `mlapp` prints it as one line, no traceback.
        assert code != 0 and f"EditedByHand: {FIRST} was edited by hand" in out, out
        assert "a deploy, promote or rollback rewrites it" in out
    assert on_remote(gitops, f"{FIRST}/kustomization.yaml") and remote_log(gitops)[0].endswith(
        "edited by hand"
    )
    assert (
        sh(
            "git", "--git-dir", str(gitops.parent / "origin.git"), "rev-parse", "deploy", cwd=gitops
        ).stdout.strip()
        == tip
    )
    # The branch is append-only: the next deploy rewrites the folder on top of the edit, and the
    # edit is never a release to go back to.
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "rollback", "--env", FIRST, "--push")[0] == 0
    assert release_on_remote(gitops, FIRST)["digest"] == digest("a")
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 0 and f"{FIRST:<12} deployed" in out, out
    assert f"{LAST:<12} {LAST} has never been deployed" in out


def test_a_release_whose_image_is_not_its_digest_is_no_release(gitops: Path, mlapp, tmp_path: Path) -> None:
    """Promote and rollback match a release by its `digest` and deploy (and verify) its `image`: a
    release.json where they differ would put an untested image under a tested digest's name."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0

    def swap_image(tree: Path) -> None:
        path = tree / FIRST / RELEASE_FILE
        path.write_text(json.dumps({**json.loads(path.read_text()), "image": image("c")}))

    hand_edit(gitops, tmp_path, swap_image)
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 1 and f"{FIRST} was edited by hand: {FIRST}/{RELEASE_FILE} changed" in out, out
    code, out = mlapp("delivery", "promote", "--to", LAST, "--digest", digest("a"), "--push")
    assert code == 0, out
    assert release_on_remote(gitops, LAST)["image"] == image("a")  # the release staging verified
    assert f"@{digest('c')}" not in on_remote(gitops, f"{LAST}/manifests.yaml")
