"""The deploy branch and params in states no deploy job leaves: each is named, never read as another."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO, sh
from tests.delivery.conftest import FIRST, LAST, digest, image, remote_log
from tests.delivery.test_state import hand_edit, release_on_remote

from mlapp.delivery import cluster, ops
from mlapp.delivery.state import RELEASE_FILE
from mlapp.errors import UserError
from mlapp.params import load_params


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"manifests.yaml": "kind: ConfigMap\n"}, "manifests.yaml"),
        ({RELEASE_FILE: json.dumps({"version": 2, "image": image("c")})}, RELEASE_FILE),
    ],
    ids=["folder-without-release", "release-of-another-schema"],
)
def test_a_folder_no_deploy_wrote_is_a_hand_edit_not_never_deployed(
    gitops: Path, mlapp, tmp_path: Path, files: dict[str, str], named: str
) -> None:
    """Argo CD syncs whatever the folder holds: "never been deployed" (exit 0) would hide it."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0

    def write(tree: Path) -> None:
        (tree / LAST).mkdir()
        for name, text in files.items():
            (tree / LAST / name).write_text(text)

    hand_edit(gitops, tmp_path, write)
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 1 and f"{LAST} was edited by hand: {LAST}/{named} " in out, out
    assert "never been deployed" not in out and "a deploy, promote or rollback rewrites it" in out
    code, out = mlapp("delivery", "accept", "--env", LAST, "--push", "--no-registry")
    assert code != 0 and f"{LAST} was edited by hand" in out, out
    code, out = mlapp("delivery", "rollback", "--env", LAST, "--push")  # nothing to go back to
    assert code != 0 and f"{LAST} has never been deployed" in out, out


def test_a_push_the_remote_refuses_is_named_not_retried_as_a_race(gitops: Path, mlapp) -> None:
    """A pre-receive hook (branch protection, a policy) exits 1 as a lost race does: only a moved
    tip is a race; anything else stops at once with the remote's own words."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    hook = gitops.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'deploy is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")
    assert code != 0 and "deploy is protected" in out and "kept moving" not in out, out
    assert "git push --no-verify origin" in out
    assert len(remote_log(gitops)) == 1  # the first deploy only


def test_an_application_for_an_environment_params_dropped_is_named_once(tmp_path: Path) -> None:
    """Its Application has no namespace to expect: the count line says it, not "namespace None"."""
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    delivery = load_params(REPO / "params.yaml").delivery
    fewer = delivery.model_copy(update={"environments": [FIRST]})
    errors = cluster.check(fewer, tmp_path)
    assert any(f"Applications for {delivery.environments}, not [{FIRST!r}]" in e for e in errors), errors
    assert not [e for e in errors if "None" in e], errors


def test_environment_names_are_kubernetes_label_safe(tmp_path: Path) -> None:
    """The name ends ``<app>-<env>`` namespaces: a DNS-1123 label ends with a letter or digit."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())

    def load(name: str) -> list[str]:
        raw["delivery"]["environments"] = [FIRST, name]
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        return load_params(tmp_path / "params.yaml").delivery.environments

    for name in ("staging-eu", "qa", "a", "eu2"):
        assert load(name) == [FIRST, name]
    for name in ("Prod", "prod.eu", "staging-", "-prod", "x" * 32, "2prod"):
        rule = (
            f"delivery.environments[1]: environment name {name!r}: 1-31 lower-case letters, digits and '-', "
        )
        with pytest.raises(UserError, match=re.escape(rule)):
            load(name)


def test_status_says_when_the_deploy_branch_does_not_exist(gitops: Path, mlapp) -> None:
    """Deleted on the remote (or never pushed): "read from origin/deploy, fetched" would claim a branch."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    sh("git", "--git-dir", str(gitops.parent / "origin.git"), "branch", "-D", "deploy", cwd=gitops)
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 0 and "origin/deploy does not exist" in out, out


def test_a_release_rewrites_the_whole_folder(gitops: Path, mlapp, tmp_path: Path) -> None:
    """ "A deploy, promote or rollback rewrites it": a file added by hand (a second kustomization,
    which kustomize refuses to choose from) left beside the release would still break the sync."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    hand_edit(gitops, tmp_path, lambda tree: (tree / FIRST / "Kustomization").write_text("resources: []\n"))
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")[0] == 0
    listed = [
        "git",
        "--git-dir",
        str(gitops.parent / "origin.git"),
        "ls-tree",
        "--name-only",
        "deploy:" + FIRST,
    ]
    assert sh(*listed, cwd=gitops).stdout.split() == ["kustomization.yaml", "manifests.yaml", RELEASE_FILE]


def test_a_deploy_before_the_first_commit_says_what_to_commit(tmp_path: Path, monkeypatch, mlapp) -> None:
    """`git init` and a copy of the template, nothing committed: not git's "ambiguous argument 'HEAD'"."""
    work = tmp_path / "work"
    sh("git", "init", "-q", "-b", "main", work, cwd=tmp_path)
    shutil.copytree(REPO / "infra", work / "infra")
    shutil.copy(REPO / "params.yaml", work / "params.yaml")
    monkeypatch.chdir(work)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"))
    assert code != 0 and "uncommitted changes in infra/ are not deployed: commit them" in out, out
    assert "HEAD" not in out


def test_a_release_copied_from_another_environment_is_no_release_there(
    gitops: Path, mlapp, tmp_path: Path
) -> None:
    """A promotion by hand (staging's folder copied as production's): status said production
    runs it, "deploy by" someone who never deployed there, and accept would have verified it."""
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    hand_edit(gitops, tmp_path, lambda tree: shutil.copytree(tree / FIRST, tree / LAST))
    code, out = mlapp("delivery", "status", "--fetch")
    assert code == 1 and f"{LAST:<12} {LAST} was edited by hand: " in out, out
    assert "no deploy recorded a release" in out and "deploy by" not in out.splitlines()[1], out
    code, out = mlapp("delivery", "accept", "--env", LAST, "--push", "--no-registry")
    assert code != 0 and f"{LAST} was edited by hand" in out, out
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0  # the real promotion rewrites it
    assert mlapp("delivery", "status", "--fetch")[0] == 0


@pytest.mark.parametrize("push", [True, False], ids=["push", "local"])
def test_accepting_a_verified_release_again_changes_nothing(gitops: Path, mlapp, push: bool) -> None:
    """A re-run job accepts again: a second "verified" commit said twice what was done once (exit 0:
    the job stays green). A deploy in between is refused as before: the tested digest left."""
    where = ["--git-dir", str(gitops.parent / "origin.git")] if push else []
    flag = ["--push"] if push else []

    def subjects() -> list[str]:
        return sh("git", *where, "log", "--format=%s", "deploy", cwd=gitops).stdout.splitlines()

    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), *flag)[0] == 0
    assert mlapp("delivery", "accept", "--env", FIRST, *flag, "--no-registry")[0] == 0
    before = subjects()
    for tested in ([], ["--digest", digest("a")]):
        code, out = mlapp("delivery", "accept", "--env", FIRST, *tested, *flag, "--no-registry")
        assert code == 0 and f"{FIRST} already verified: {image('a')} (" in out, out
        assert "nothing changed" in out and subjects() == before, out
    assert before[0].startswith(f"verified {FIRST}: ") and len(before) == 2
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), *flag)[0] == 0
    code, out = mlapp("delivery", "accept", "--env", FIRST, "--digest", digest("a"), *flag, "--no-registry")
    assert code != 0 and f"runs {digest('b')}, not the tested {digest('a')}" in out, out
    assert len(subjects()) == 3


@pytest.mark.slow
def test_accepting_again_moves_the_alias_a_first_accept_without_registry_left(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified without the registry (sqlite on Actions, or --no-registry) records no version and
    moves no alias: accept with a registry now moves it and records the version, in one commit.
    Without one it stays a no-op, as it does once the version is recorded."""
    from mlflow.tracking import MlflowClient

    name = load_params("params.yaml").mlflow.model_name
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # the runner's sqlite file: the alias is not moved
    code, out = mlapp("delivery", "accept", "--env", FIRST, "--push")
    assert code == 0 and "verified without moving the MLflow alias" in out, out
    assert mlapp("delivery", "accept", "--env", FIRST, "--push")[1].count("already verified") == 1
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert "already verified" in mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[1]
    commits = len(remote_log(gitops))
    client = MlflowClient()
    client.create_registered_model(name)
    (model := tmp_path / "model").mkdir()  # an MLflow model's folder: no alias moves to files gone
    (model / "MLmodel").write_text("flavors: {}\n")
    client.create_model_version(name, str(model), tags={ops.DIGEST_TAG: digest("a")})
    code, out = mlapp("delivery", "accept", "--env", FIRST, "--push")
    assert code == 0 and f"{name}@{FIRST} -> version 1" in out and "already" not in out, out
    assert client.get_registered_model(name).aliases == {FIRST: 1}
    assert release_on_remote(gitops, FIRST)["registry_version"] == "1"
    for args in ([], ["--no-registry"]):
        code, out = mlapp("delivery", "accept", "--env", FIRST, "--push", *args)
        assert code == 0 and "already verified" in out and "alias" not in out, out
    assert len(remote_log(gitops)) == commits + 1


def test_a_deleted_deploy_branch_starts_anew_and_says_so(gitops: Path, mlapp) -> None:
    """Deleted on the remote (the ruleset of github-setup forbids it): the next deploy starts the
    branch again without its history, which it said nothing about."""
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code == 0 and "origin/deploy did not exist: started anew here" in out, out  # the first
    assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
    assert mlapp("delivery", "promote", "--to", LAST, "--push")[0] == 0
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("b"), "--push")
    assert code == 0 and "did not exist" not in out, out
    sh("git", "--git-dir", str(gitops.parent / "origin.git"), "branch", "-D", "deploy", cwd=gitops)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("c"), "--push")
    assert code == 0 and "origin/deploy did not exist: started anew here" in out, out
    assert len(remote_log(gitops)) == 1  # the history is gone with the branch, and LAST's folder
    code, out = mlapp("delivery", "status", "--fetch")
    assert f"{LAST:<12} {LAST} has never been deployed" in out, out
