"""`mlapp serving bento` in a trained copy of the project, then the image's server command on
the built bento.

What CI does after `make run`: build, export the Docker context, and serve exactly what
the image would contain, the way the image runs it (here with the test environment's
packages: no docker engine).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlapp.serving.local import free_port
from tests.conftest import copy_project, own_probe_port, running_server, sh
from tests.full_disk import fill, small_tmpfs
from tests.image.test_dockerfile import image_command
from tests.serving.test_resilience import kill_a_worker, predict_ok

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(
    trained_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str], dict]:
    root = copy_project(trained_project, tmp_path_factory.mktemp("bento") / "project")
    env = {"BENTOML_HOME": str(root.parent / "bentoml-home")}  # never the developer's bento store
    done = sh("mlapp", "serving", "bento", "--docker-context", "build/docker", cwd=root, env=env)
    outputs = dict(line.split("=", 1) for line in done.stdout.strip().splitlines())
    return root, env, outputs


def test_tag_and_labels_carry_the_lineage(built) -> None:
    root, _env, out = built
    commit = sh("git", "rev-parse", "HEAD", cwd=root).stdout.strip()
    data_md5 = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]["md5"]
    assert out["git_commit"] == commit and out["data_hash"] == data_md5
    assert out["tag"] == f"mlapp:{out['model_version']}-{commit[:8]}"  # a clean tree: no "-dirty"
    labels = yaml.safe_load((Path(out["path"]) / "bento.yaml").read_text())["labels"]
    assert labels["git_commit"] == commit
    assert labels["data_hash"] == data_md5
    assert labels["model_version"] == out["model_version"]


def test_bento_holds_only_what_the_service_reads(built) -> None:
    _root, _env, out = built
    src = Path(out["path"]) / "src"
    files = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    assert {"models/model.ubj", "models/model_spec.json", "metrics/metrics.json"} <= files
    assert {"build/lineage.json", "mlapp/serving/service.py", "mlapp/schema.py"} <= files
    # Only the serving settings, no params.yaml: the bento server below starts from them.
    assert "build/serving.json" in files and "params.yaml" not in files
    assert not any(f.startswith(("mlapp/stages", "mlapp/tracking", "data/")) for f in files)
    assert not any(f.endswith((".pkl", ".pickle", ".joblib")) for f in files)


def test_requirements_are_the_locked_serving_closure(built) -> None:
    _root, _env, out = built
    text = (Path(out["path"]) / "env/python/requirements.txt").read_text()
    requirements = [line.split(";")[0].strip() for line in text.splitlines() if line.strip()]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", r) for r in requirements), (
        requirements
    )  # all pinned
    pins = dict(r.split("==", 1) for r in requirements)
    assert {"bentoml", "xgboost-cpu", "pandera", "uvloop", "httptools"} <= set(pins)
    assert not {"mlflow", "dvc", "scikit-learn", "matplotlib", "xgboost"} & set(pins)


def test_docker_context_is_buildable_as_is(built) -> None:
    root, _env, out = built
    context = root / out["docker_context"]
    dockerfile = (root / out["dockerfile"]).read_text()
    assert (root / out["dockerfile"]) == context / "env/docker/Dockerfile"
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^USER bentoml$", dockerfile, re.M)  # the server does not run as root
    assert "EXPOSE 3000" in dockerfile
    assert (context / "src/models/model.ubj").is_file()


def test_print_path_rebuilds_the_same_tag(built) -> None:
    root, env, out = built
    again = sh("mlapp", "serving", "bento", "--print-path", cwd=root, env=env).stdout.strip()
    assert again == out["path"]


@pytest.fixture(scope="module")
def bento_server(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _root, env, out = built
    port = free_port()
    log = tmp_path_factory.mktemp("bento-server") / "server.log"
    argv, image_env = image_command(Path(out["path"]), port)
    argv += own_probe_port()
    with running_server(argv, port, log.parent, log, env={**os.environ, **env, **image_env}) as url:
        yield {"url": url, "port": port, "log": log}


def test_the_built_bento_serves_and_passes_the_smoke_test(built, bento_server) -> None:
    root, _env, out = built
    url = bento_server["url"]
    done = sh("mlapp", "serving", "smoke", "--url", url, "--expect-version", out["model_version"], cwd=root)
    assert "smoke test passed" in done.stdout
    lineage = httpx.post(f"{url}/metadata", timeout=10).json()["lineage"]
    assert lineage["source"] == "bento"  # no .git in a bento: the baked file
    assert lineage["git_commit"] == out["git_commit"]


def test_a_killed_worker_is_replaced_at_once_in_the_image(bento_server, records) -> None:
    """With BENTOML_CONTAINERIZED set, as in the image, BentoML alone would not respawn."""
    url = bento_server["url"]
    assert predict_ok(url, records)
    kill_a_worker(url, bento_server["port"], bento_server["log"])
    assert predict_ok(url, records)


def test_a_full_bento_store_is_one_line_and_leaves_no_partial_copy(trained_project, tmp_path) -> None:
    """BentoML's build copies the files into $BENTOML_HOME/tmp and left that copy behind, with 52
    lines of traceback, when the disk filled: each retry took more of the space it lacked."""
    root = copy_project(trained_project, tmp_path / "project")
    with small_tmpfs(tmp_path / "home", "16m") as home:
        env = {"BENTOML_HOME": str(home)}
        filler = fill(home)
        done = sh("mlapp", "serving", "bento", cwd=root, env=env, check=False)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        said = f"error: cannot build the bento in the BentoML store {home} (No space left on device: "
        assert said in done.stderr
        assert "free space there, or set BENTOML_HOME" in done.stderr
        assert list((home / "tmp").iterdir()) == []  # the partial copy is gone
        filler.unlink()
        built = sh("mlapp", "serving", "bento", "--print-path", cwd=root, env=env)
        assert Path(built.stdout.strip(), "bento.yaml").is_file()  # nothing to clean first


def bento_blocks(root: Path, outputs: dict[str, str]) -> int:
    """The built bento's size in 4 KiB blocks, without the __pycache__ its server wrote there."""
    du = sh("du", "-s", "--block-size=4096", "--exclude=__pycache__", outputs["path"], cwd=root)
    return int(du.stdout.split()[0])


def test_a_store_with_room_for_one_copy_names_the_file(built, tmp_path) -> None:
    """The copy into $BENTOML_HOME/tmp fits and the move into the store (a copytree) does not: its
    shutil.Error has no errno or filename, and the line said "(None: None)"."""
    root, _env, outputs = built
    with small_tmpfs(tmp_path / "home", f"{bento_blocks(root, outputs) * 3 // 2 * 4}k") as home:
        done = sh("mlapp", "serving", "bento", cwd=root, env={"BENTOML_HOME": str(home)}, check=False)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        said = f"error: cannot build the bento in the BentoML store {home} (No space left on device: {home}/"
        assert said in done.stderr, done.stderr
        assert "free space there, or set BENTOML_HOME" in done.stderr
        assert list((home / "tmp").iterdir()) == []


def test_a_rebuild_that_fails_keeps_the_bento_it_replaces(built, tmp_path) -> None:
    """A rebuild of the same tag deleted the stored bento first: one that then failed left none.
    With room for half a bento more, the copy into $BENTOML_HOME/tmp fails; with room for one and
    a half, the copy into the store does. Either way the stored bento stays as it was (before: the
    first lost it, the second made room by deleting it). One store for both: a failed rebuild
    leaves it as it found it, which is what the first case asserts before the second runs."""
    root, _env, outputs = built
    blocks = bento_blocks(root, outputs)
    with small_tmpfs(tmp_path / "home", f"{blocks * 4 * 4}k") as home:
        env = {"BENTOML_HOME": str(home)}
        stored = Path(sh("mlapp", "serving", "bento", "--print-path", cwd=root, env=env).stdout.strip())
        before = {p: p.read_bytes() for p in stored.rglob("*") if p.is_file()}
        for room in (0.5, 1.5):
            filler = fill(home, leave=int(blocks * room) * 4096)
            done = sh("mlapp", "serving", "bento", cwd=root, env=env, check=False)
            assert done.returncode != 0, f"room for {room} bento"
            assert "(No space left on device: " in done.stderr, f"room for {room} bento: {done.stderr}"
            after = {p: p.read_bytes() for p in stored.rglob("*") if p.is_file()}
            assert after == before, f"room for {room} bento: the stored bento changed"
            assert list((home / "tmp").iterdir()) == [], f"room for {room} bento"
            filler.unlink()
