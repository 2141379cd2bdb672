"""A team adds, renames and removes an environment (infra/README.md): `check-manifests` names
each part it left behind, in one line saying what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO
from tests.delivery.conftest import FIRST, LAST

from mlapp.params import load_params

APP = load_params(REPO / "params.yaml").delivery.app


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def environments(root: Path, names: list[str]) -> None:
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["delivery"]["environments"] = names
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def problems(mlapp) -> list[str]:
    code, out = mlapp("delivery", "check-manifests")
    lines = [line for line in out.splitlines() if not line.endswith(": valid")]
    assert (code != 0) == bool(lines), out
    return lines


def test_an_overlay_copied_without_its_namespace_and_label_is_named(project: Path, mlapp) -> None:
    """Two environments in one namespace would overwrite each other's objects; a wrong
    `environment` label files qa's metrics under staging (the ServiceMonitor's target label), a
    wrong `app.kubernetes.io/instance` names staging's instance on qa's objects."""
    environments(project, [FIRST, "qa", LAST])
    shutil.copytree(project / f"infra/overlays/{FIRST}", project / "infra/overlays/qa")
    found = problems(mlapp)
    assert f"infra/overlays/qa: labels: environment: {FIRST}; set it to qa" in found, found
    instance = f"infra/overlays/qa: labels: app.kubernetes.io/instance: {APP}-{FIRST}; set it to {APP}-qa"
    assert instance in found, found
    share = [line for line in found if "environments share a namespace" in line]
    assert share and f"'qa': '{APP}-{FIRST}'" in share[0], found


def test_a_renamed_environment_names_the_overlay_to_move(project: Path, mlapp) -> None:
    environments(project, ["stage", LAST])
    found = problems(mlapp)
    stray = f"not in params ['stage', '{LAST}']: `git mv` it to the environment it became, or `git rm -r` it"
    assert f"infra/overlays/{FIRST}: {stray}" in found, found
    # Not "a copy of overlays/stage": the one it names must exist.
    missing = f"missing: a copy of overlays/{LAST} with namespace {APP}-stage (infra/README.md"
    assert any(line.startswith(f"infra/overlays/stage: {missing}") for line in found), found


def test_a_removed_environment_leaves_no_overlay_or_namespace_behind(project: Path, mlapp) -> None:
    environments(project, [FIRST, "qa", LAST])
    shutil.copytree(project / f"infra/overlays/{FIRST}", project / "infra/overlays/qa")
    kustomization = project / "infra/overlays/qa/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace(FIRST, "qa"))
    namespaces = project / "infra/bootstrap/namespaces.yaml"
    first = namespaces.read_text().split("---")[0].replace(f"{APP}-{FIRST}", f"{APP}-qa")
    namespaces.write_text(f"{namespaces.read_text()}\n---\n{first}")
    environments(project, [FIRST, LAST])  # removed from params only: the rest is left behind
    found = problems(mlapp)
    assert any(line.startswith("infra/overlays/qa: not in params") for line in found), found
    want = sorted(f"{APP}-{e}" for e in (FIRST, LAST))
    assert f"infra/bootstrap: must create exactly the namespaces {want}" in found, found


def test_an_infra_without_overlays_names_each_one_missing(project: Path, mlapp) -> None:
    """Every overlay removed (`git rm -r` leaves no folder): each environment's is named missing,
    as one overlay's is, not a traceback about the folder."""
    shutil.rmtree(project / "infra/overlays")
    found = problems(mlapp)
    for env in (FIRST, LAST):
        assert any(line.startswith(f"infra/overlays/{env}: missing: a copy of") for line in found), found
