"""The model version names both files the service loads: the booster and its spec.

A change to the decision threshold alone (``train.fixed_threshold``, a new tuned threshold)
retrains to the same booster bytes and a new spec: the service then answers differently, so
its version must differ too, everywhere a model is named (``Model.version``, the lineage
tags, the serving lineage, the release delivery records).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlapp import lineage
from mlapp import model as model_io
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.serving import lineage as serving_lineage
from mlapp.stages.train import train
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def trained_with_threshold(folder: Path, threshold: float) -> Path:
    """The params' training (few trees) on a fixed sample, its threshold fixed at ``threshold``."""
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 10})
    params = PARAMS.train.model_copy(
        update={"xgboost": xgb, "threshold_metric": "fixed", "fixed_threshold": threshold}
    )
    model_io.save(
        *train(generate(1_000, 4), PARAMS.data.label, params, examples=PARAMS.validate_.max_failure_examples),
        folder,
    )
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("versions")
    return {
        "old": trained_with_threshold(root / "old", 0.3),
        "same": trained_with_threshold(root / "same", 0.3),  # identical inputs, trained again
        "new": trained_with_threshold(root / "new", 0.4),  # a PR that only changes the threshold
    }


def test_a_threshold_only_change_keeps_the_booster_and_changes_the_version(models) -> None:
    old, new = models["old"], models["new"]
    booster = model_io.MODEL_FILE
    assert (old / booster).read_bytes() == (new / booster).read_bytes()  # the premise
    assert model_io.load(old).spec.threshold == 0.3 and model_io.load(new).spec.threshold == 0.4
    assert model_io.load(old).version != model_io.load(new).version
    assert model_io.load(old).sha256 != model_io.load(new).sha256


def test_every_place_that_names_a_model_tells_the_two_apart(models) -> None:
    old, new = models["old"], models["new"]
    assert model_io.model_sha256(old) != model_io.model_sha256(new)  # release.json, `delivery wait`
    assert lineage.identity(old) != lineage.identity(new)  # MLflow runs and registry versions
    assert lineage.tags(old)["model.sha256"] != lineage.tags(new)["model.sha256"]  # image labels
    served_old, served_new = serving_lineage.from_repo(old), serving_lineage.from_repo(new)
    assert served_old.model_version != served_new.model_version  # /metadata, headers, bento tag


def test_every_place_names_a_model_the_same_way(models) -> None:
    for folder in models.values():
        loaded = model_io.load(folder)
        served = serving_lineage.from_repo(folder)
        assert model_io.model_sha256(folder) == loaded.sha256  # release.json: it, and its first 12 hex
        assert (served.model_version, served.model_sha256) == (loaded.version, loaded.sha256)
        assert lineage.identity(folder) == {"model.sha256": loaded.sha256}
        assert loaded.version == loaded.sha256[:12]


def test_identical_inputs_give_identical_versions(models) -> None:
    assert model_io.load(models["old"]).version == model_io.load(models["same"]).version
    assert model_io.model_sha256(models["old"]) == model_io.model_sha256(models["same"])


def test_the_digest_is_what_the_shell_recipe_gives(models) -> None:
    """model.py documents it: ``cd models && sha256sum model.ubj model_spec.json | sha256sum``."""
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum (coreutils) here")
    recipe = "sha256sum model.ubj model_spec.json | sha256sum"
    done = subprocess.run(["sh", "-c", recipe], cwd=models["new"], capture_output=True, text=True, check=True)
    assert done.stdout.split()[0] == model_io.load(models["new"]).sha256


def test_a_model_without_its_spec_has_no_version_but_a_clear_error(models, tmp_path) -> None:
    folder = shutil.copytree(models["old"], tmp_path / "models")
    (folder / model_io.SPEC_FILE).unlink()
    with pytest.raises(model_io.ModelUnreadable, match=model_io.SPEC_FILE):
        model_io.model_sha256(folder)
