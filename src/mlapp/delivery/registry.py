"""MLflow registry side of a release: which version an image holds, and the aliases.

The cd workflow registers each built image's model with the tag ``image.digest``
(``mlapp pipeline register --tag image.digest=sha256:...``). An environment's alias (``staging``,
``production``) moves to that version only after the environment passed its smoke test,
so ``models:/<name>@production`` is always what production verifiably serves.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from mlapp.errors import UserError
from mlapp.model import MODEL_FILE, file_sha256
from mlapp.params import MlflowParams

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DIGEST_TAG = "image.digest"


class RegistryError(UserError, LookupError):
    pass


def _client(params: MlflowParams) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    from mlapp.tracking import connect, require_server

    require_server(connect(params), "the registry", RegistryError)
    return MlflowClient()


def version_for_digest(params: MlflowParams, digest: str) -> tuple[str, dict[str, str]]:
    """(version, tags) of the newest registry version built into image ``digest``."""
    query = f"name = '{params.model_name}' and tags.`{DIGEST_TAG}` = '{digest}'"
    found = _client(params).search_model_versions(query, order_by=["version_number DESC"], max_results=1)
    if not found:
        raise RegistryError(
            f"no version of registered model {params.model_name!r} is tagged {DIGEST_TAG}={digest}: "
            f"register it with `mlapp pipeline register --tag {DIGEST_TAG}={digest}`"
        )
    return str(found[0].version), dict(found[0].tags)


def move_alias(params: MlflowParams, alias: str, digest: str) -> str:
    """Point ``alias`` at the version built into ``digest``; returns that version."""
    version = version_for_digest(params, digest)[0]
    _client(params).set_registered_model_alias(params.model_name, alias, version)
    return version


def fetch_model(params: MlflowParams, digest: str, dest: Path) -> Path:
    """The model files of the version in ``digest``, into ``dest`` (checked against its sha256).

    Promotion and rollback jobs run on main's checkout, which has no model of an older
    release; the smoke test needs the released model to compute the expected prediction.
    """
    import mlflow

    version, tags = version_for_digest(params, digest)
    with tempfile.TemporaryDirectory(prefix="mlapp-model-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(f"models:/{params.model_name}/{version}", dst_path=tmp)
        )
        artifacts = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"].get(
            "artifacts", {}
        )
        if "model_dir" not in artifacts:
            raise RegistryError(f"version {version} has no model_dir artifact (logged by mlapp.tracking)")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(local / artifacts["model_dir"]["path"], dest)
    if (expected := tags.get("model.sha256")) and (actual := file_sha256(dest / MODEL_FILE)) != expected:
        raise RegistryError(f"version {version}: model file sha256 {actual} != tag model.sha256 {expected}")
    return dest
