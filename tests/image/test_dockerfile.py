"""The image's Dockerfile and build context: base pinned by digest, a lean non-root final stage.

The real build runs in CI (`make image` in .ci/run); these tests read the template and the
rendered context, so a change that would bloat the image or unpin the base fails fast.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from mlapp import gha
from mlapp.errors import UserError
from mlapp.image import build, context
from mlapp.params import load_params
from tests.conftest import REPO, copy_project, sh
from tests.delivery.steps import make_recipe

PARAMS = load_params(REPO / "params.yaml")
TEMPLATE = context.TEMPLATE.read_text()
DIGEST = "sha256:" + "ab" * 32


def stages(dockerfile: str) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped), grouped by FROM."""
    logical = re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#.*\n", "", dockerfile))
    result: list[list[str]] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        if line.startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line.strip())
    return result


def final_stage() -> list[str]:
    return stages(TEMPLATE)[-1]


def test_the_registry_build_starts_from_a_base_pinned_by_digest() -> None:
    assert context.PINNED.match(PARAMS.image.base), PARAMS.image.base
    rendered = context.render_dockerfile(TEMPLATE, PARAMS.image.base)
    defaults = re.findall(r"(?m)^ARG BASE_IMAGE=(\S+)$", rendered)
    assert defaults == [PARAMS.image.base]
    froms = re.findall(r"(?m)^FROM (\S+)", rendered)
    assert froms and all(ref == "${BASE_IMAGE}" for ref in froms)  # no second, unpinned base


@pytest.mark.parametrize(
    "base", ["python:3.11-slim", "python:3.11-slim@sha256:abc", f"python@{DIGEST.upper()}", ""]
)
def test_an_unpinned_base_is_refused(base: str) -> None:
    with pytest.raises(UserError, match="pinned by digest"):
        context.render_dockerfile(TEMPLATE, base)


def test_a_template_with_its_own_default_is_refused() -> None:
    with pytest.raises(UserError, match="once, without a default"):
        context.render_dockerfile(TEMPLATE.replace("ARG BASE_IMAGE\n", "ARG BASE_IMAGE=py\n"), f"py@{DIGEST}")


def test_final_stage_runs_as_the_clusters_non_root_user() -> None:
    users = [line.split()[1] for line in final_stage() if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    manifest = (REPO / "infra/base/deployment.yaml").read_text()
    uid = re.search(r"runAsUser: (\d+)", manifest)
    assert uid and f"--uid {uid.group(1)}" in " ".join(final_stage())


def test_final_stage_has_no_build_tools_installers_or_caches() -> None:
    text = "\n".join(final_stage())
    for tool in ("apt-get", "apt ", "build-essential", "gcc", "pip install", "uv pip", "git ", "curl"):
        assert tool not in text, tool
    copies_from = re.findall(r"COPY --from=(\S+) (\S+)", text)
    assert copies_from == [("builder", "/app/.venv")]  # the venv only: no installer, no cache
    installer_paths = {"/opt/installer", "/root/.cache"}
    assert not any(path in text for path in installer_paths)


def test_builder_secrets_stay_mounts_not_image_content() -> None:
    text = TEMPLATE
    assert "--mount=type=secret,id=ca" in text and "--mount=type=secret,id=index" in text
    assert not re.search(r"(?m)^(ENV|ARG)\s.*(SSL_CERT_FILE|INDEX_URL|DEFAULT_INDEX)", text)
    assert not re.search(r"(?m)^COPY .*ca-certificates", text)


def image_command(bento: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """What the container runs (the final stage's CMD, with the PYTHONPATH and
    BENTOML_CONTAINERIZED it sets) for the bento folder ``bento`` on 127.0.0.1:``port``."""
    stage = final_stage()
    workdir = [line.split()[1] for line in stage if line.startswith("WORKDIR ")][-1]
    (cmd,) = [json.loads(line.removeprefix("CMD ")) for line in stage if line.startswith("CMD ")]
    env = dict(
        item.split("=", 1) for line in stage if line.startswith("ENV ") for item in shlex.split(line[4:])
    )
    swap = {workdir: str(bento), "0.0.0.0": "127.0.0.1", str(build.CONTAINER_PORT): str(port)}  # noqa: S104
    argv = [sys.executable, *(swap.get(arg, arg) for arg in cmd[1:])]
    return argv, {
        key: env[key].replace(workdir, str(bento)) for key in ("PYTHONPATH", "BENTOML_CONTAINERIZED")
    }


def test_the_image_runs_the_supervised_server_on_its_bento() -> None:
    """Not BentoML's default `bentoml serve`, which leaves a dead worker to the orchestrator;
    tests/serving/test_bento.py runs this command on a built bento and kills its worker."""
    argv, env = image_command(Path("/bento"), 8080)
    assert argv[1:3] == ["-m", "mlapp.serving.supervise"]
    assert argv[argv.index("--bento") + 1] == "/bento" and argv[argv.index("--port") + 1] == "8080"
    assert env == {"PYTHONPATH": "/bento/src", "BENTOML_CONTAINERIZED": "true"}


def test_the_exposed_port_is_the_one_the_command_and_cluster_use() -> None:
    assert f"EXPOSE {build.CONTAINER_PORT}" in final_stage()
    manifest = (REPO / "infra/base/deployment.yaml").read_text()
    assert f"containerPort: {build.CONTAINER_PORT}" in manifest


def test_the_kubelet_probes_the_probe_port_params_names() -> None:
    """The workers answer probes on ``serving.probe_port`` (probes.py): the image exposes it and
    every probe of infra/base targets it (by name), not the traffic port."""
    port = load_params(REPO / "params.yaml").serving.probe_port
    assert f"EXPOSE {port}" in final_stage()
    deployment = yaml.safe_load((REPO / "infra/base/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["probes"] == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "probes"


def test_installer_is_pinned_with_hashes_from_the_lock() -> None:
    text = context.installer_requirements(REPO / "uv.lock")
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    version = next(p["version"] for p in lock["package"] if p["name"] == "uv")
    assert text.startswith(f"uv=={version} ")
    hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", text)
    assert len(hashes) >= 2


def test_installer_missing_from_the_lock_is_an_error(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "click"\nversion = "8"\n')
    with pytest.raises(UserError, match="not in"):
        context.installer_requirements(lock)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_context_holds_the_bento_the_dockerfile_and_hashed_serving_requirements(
    trained_project: Path, tmp_path: Path
) -> None:
    root = copy_project(trained_project, tmp_path / "project")
    # As a clone and `dvc repro` under umask 077 leave them: COPY keeps the modes, root's
    for private in (root / "models" / "model.ubj", root / "src" / "mlapp" / "serving" / "service.py"):
        private.chmod(0o600)
    outputs = tmp_path / "github-output"
    env = {"BENTOML_HOME": str(tmp_path / "bentoml-home"), "GITHUB_OUTPUT": str(outputs)}
    (recipe,) = make_recipe("image-context")  # cd's `make image-context` step, without the uv launcher
    done = sh(*recipe, cwd=root, env=env)
    facts = dict(line.split("=", 1) for line in done.stdout.strip().splitlines())
    first = snapshot(root / facts["context"])
    sh(*recipe, cwd=root, env=env)  # a rebuild of the same commit: the same bytes, any time
    assert snapshot(root / facts["context"]) == first
    epoch = sh("git", "log", "-1", "--format=%ct", cwd=root).stdout.strip()
    assert facts["source_date_epoch"] == epoch  # the commit's time: the image's timestamps
    params = load_params(root / "params.yaml")
    assert facts["context"] == str(params.image.context) and facts["pinned_base"] == params.image.base
    assert gha.parse_outputs(outputs.read_text()) == facts
    ctx, dockerfile = root / facts["context"], root / facts["dockerfile"]
    assert f"ARG BASE_IMAGE={params.image.base}\n" in dockerfile.read_text()
    # what the Dockerfile COPYs from the context exists there
    for source in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", dockerfile.read_text()):
        for part in source.split():
            assert (ctx / part).exists(), part
    assert (ctx / "src/models/model.ubj").is_file()
    assert (ctx / "src/mlapp/serving/service.py").is_file()
    requirements = (ctx / "requirements.txt").read_text()
    pins = re.findall(r"(?m)^([A-Za-z0-9_.\-]+)==\S+", requirements)
    assert {"bentoml", "xgboost-cpu", "pandera"} <= set(pins)
    assert not {"xgboost", "mlflow", "dvc", "scikit-learn", "uv"} & set(pins)  # serving only
    entries = re.split(r"(?m)^(?=\S)", requirements.strip())
    assert all("--hash=sha256:" in entry for entry in entries if entry.strip())
    assert (ctx / "build-requirements.txt").read_text().startswith("uv==")
    # the image's server (bentoml, not root) reads every file and enters every folder
    unreadable = [p for p in ctx.rglob("*") if ~p.stat().st_mode & (0o555 if p.is_dir() else 0o444)]
    assert not unreadable, unreadable[:5]
