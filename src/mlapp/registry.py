"""MLflow registry versions of the current model, and who may add them.

One tracking server serves many repositories. A registered model belongs to the repository
that built its newest version recording one (lineage tag ``git.repository``: GitHub's
repository in Actions, the ``origin`` remote's elsewhere): registering from another one (a
clone that kept the template's ``mlflow.model_name``, a fork) is refused, since its version
and aliases would be what the owner's consumers load. Versions registered before the tag
existed, or from a clone without a remote, record ``unknown`` and claim nothing.
"""

from __future__ import annotations

import shlex
import urllib.parse
from pathlib import Path

import mlflow
from mlflow.entities import LifecycleStage
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import _validate_model_alias_name, _validate_model_alias_name_reserved

from mlapp import lineage
from mlapp.errors import TrackingUnavailable, UserError
from mlapp.lineage import identity as model_identity
from mlapp.params import Params
from mlapp.tracking import connect, ensure_run, require_server
from mlapp.tracking_failures import CREDENTIALS
from mlapp.tracking_timeouts import one_try


class OwnedElsewhere(UserError, RuntimeError):
    """The registered model belongs to another repository."""


class Unservable(UserError, RuntimeError):
    """An alias would point at a version whose run was deleted or whose model files are gone."""


# What a team does about such a version; an alias never moves there, or consumers of
# ``models:/<name>@<alias>`` would load a model that is gone or was withdrawn.
REGISTER_AGAIN = (
    "register the current model again (`mlapp pipeline register --alias ...`; a release with "
    "`--tag image.digest=sha256:...`) and point the alias at that version"
)


def versions_of(name: str) -> str:
    """MLflow's search filter for the versions of registered model ``name``.

    Its filter strings have no escapes: a name with ``'`` (params refuse both quotes) is quoted with ``"``.
    """
    quote = '"' if "'" in name else "'"
    return f"name = {quote}{name}{quote}"


def owned_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every version of registered model ``name``; refused when another repository owns it."""
    versions = client.search_model_versions(versions_of(name))
    ours = lineage.repository()
    recorded = [v for v in versions if v.tags.get(lineage.REPOSITORY_TAG, lineage.UNKNOWN) != lineage.UNKNOWN]
    newest = max(recorded, key=lambda v: int(v.version), default=None)
    if newest is None:
        return versions
    owner = newest.tags[lineage.REPOSITORY_TAG]
    # owner/name decide: an ssh host alias (git@github-work:acme/churn) is the same repository
    if owner.split("/", 1)[-1] != ours.split("/", 1)[-1]:
        this = (
            f"this is {ours}"
            if ours != lineage.UNKNOWN
            else "this clone names none (no GITHUB_REPOSITORY, no `origin` remote on a server)"
        )
        raise OwnedElsewhere(
            f"registered model {name!r} in {mlflow.get_registry_uri()} belongs to {owner} (it built "
            f"version {newest.version}), {this}: name this project's own model and experiment in "
            "params.yaml (mlflow.model_name, mlflow.experiment; `make init NAME=...` renames both)"
        )
    return versions


def registry_answers(client: MlflowClient, name: str) -> list[ModelVersion]:
    """``owned_versions``, the first registry call, made before a run is logged: a registry that
    refuses this client, is missing from the URL or is off on the server is one line saying so and
    what to fix, not "failed while registering" once a run was logged for nothing."""
    try:
        return owned_versions(client, name)
    except MlflowException as exc:
        if problem := registry_problem(exc):
            raise TrackingUnavailable(problem) from exc
        raise


def registry_problem(exc: MlflowException) -> str | None:
    """What a registry call's answer says is wrong with the setup (``None``: not the setup's fault)."""
    uri = mlflow.get_registry_uri()
    said = " ".join(exc.message.split())
    said = said if len(said) <= 200 else f"{said[:200]}…"
    if "Model registry functionality is unavailable" in exc.message:  # the server's handlers say so
        return (
            f"the model registry of MLflow tracking server {uri} is off ({said}): start the server "
            "with a database as --registry-store-uri (or --backend-store-uri), e.g. postgresql://…"
        )
    status = exc.get_http_status_code()
    if status in (401, 403):
        return (
            f"MLflow tracking server {uri} refused this client's model registry call ({said}): check "
            f"{CREDENTIALS}, and that this user may read and create registered models (the server's "
            "permissions)"
        )
    if status == 404:
        return (
            f"{uri} answers MLflow's tracking API but not its model registry ({said}): a proxy in "
            "front of the server must pass /api/2.0/mlflow/registered-models/ and /model-versions/ too"
        )
    return None


def withdrawn(client: MlflowClient, version: ModelVersion) -> str | None:
    """Why ``version`` must not be served (its run deleted, its model files gone); ``None``: it may.

    A deleted run's version still loads until `mlflow gc` (a logged model keeps its own files), but
    deleting a run withdraws its model; a version whose files are gone fails every load.
    """
    if version.run_id and (gone := run_gone(client, version.run_id)):
        return gone
    where = client.get_model_version_download_uri(version.name, version.version)
    return None if has_model(where) else f"its model files (run {version.run_id}) are gone from {where}"


def run_gone(client: MlflowClient, run_id: str) -> str | None:
    """What became of run ``run_id`` if it was deleted; ``None`` if it is there."""
    try:
        deleted = client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        return f"its run {run_id} no longer exists (deleted for good, `mlflow gc`)"
    restore = f"`mlflow runs restore --run-id {run_id}` brings it back"
    return f"its run {run_id} is deleted ({restore})" if deleted else None


def has_model(uri: str) -> bool:
    """Whether artifact ``uri`` holds an MLflow model (its ``MLmodel`` file)."""
    return any(Path(f.path).name == "MLmodel" for f in mlflow.artifacts.list_artifacts(artifact_uri=uri))


def refuse_withdrawn(client: MlflowClient, name: str, alias: str, version: str) -> None:
    if reason := withdrawn(client, client.get_model_version(name, version)):
        raise Unservable(
            f"not pointing {alias!r} of registered model {name!r} at version {version}: {reason}; "
            + REGISTER_AGAIN
        )


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` of registered model ``name`` at ``version``, also when another process
    sets the same new alias at that moment; refused for a version ``withdrawn`` says is gone.

    MLflow's SQL store adds a new alias after reading that none exists, so of two first settings
    at once the later one fails on the table's key (on PostgreSQL a 400 naming UniqueViolation).
    The alias exists by then, and setting it again updates it. Whether it exists decides, not the
    error's text; each call sets the version it was given, so the last one wins as ever.
    """
    refuse_withdrawn(client, name, alias, version)
    try:
        client.set_registered_model_alias(name, alias, version)
    except MlflowException:
        with one_try():  # a server that failed every retry is not asked as long again
            if alias not in client.get_registered_model(name).aliases:
                raise
        client.set_registered_model_alias(name, alias, version)


def untagged(client: MlflowClient, name: str, tag: str) -> str:
    """Why no version of ``name`` carries ``tag`` (``key=value``), and what to do.

    After ``mlflow.model_name`` was renamed, the versions of earlier images (a rollback's) are the
    old name's: copying one over keeps its tags; registering the current checkout would tag
    another model with that image's digest.
    """
    key, value = tag.split("=", 1)
    others = [v for v in client.search_model_versions(f"tags.`{key}` = '{value}'") if v.name != name]
    said = f"no version of registered model {name!r} is tagged {tag}"
    where = "from the commit it was built from"
    register = f"register that image's model, {where}, with `mlapp pipeline register --tag {tag}`"
    if not others:
        return f"{said}: {register}"
    old = max(others, key=lambda v: int(v.last_updated_timestamp or 0))
    renamed = "(was mlflow.model_name renamed?)"
    said = f"{said}; version {old.version} of registered model {old.name!r} is {renamed}"
    if (command := copy_command(old, name)) is None:
        return f"{said}, but MLflow copies no version of a model so named (its models:/ URI): {register}"
    return f"{said}: copy it over, tags included (`{command}`), and run this again"


def copy_command(old: ModelVersion, name: str) -> str | None:
    """The shell command copying version ``old`` to registered model ``name``, right for any names
    (a quote, ``$`` or a backtick in one): Python's repr inside, the shell's quoting around it.
    ``None`` for a name MLflow's ``models:/NAME/VERSION`` cannot hold (``?`` starts the URI's query;
    tab and newline are dropped), which its copy reads the source from."""
    uri = f"models:/{old.name}/{old.version}"
    if urllib.parse.urlparse(uri, allow_fragments=False).path != f"/{old.name}/{old.version}":
        return None
    code = f"from mlflow import MlflowClient; MlflowClient().copy_model_version({uri!r}, {name!r})"
    return f"uv run python -c {shlex.quote(code)}"


def check_aliases(aliases: list[str]) -> None:
    """Refuse an alias MLflow would refuse (``v1``, ``latest``, ``a/b``) before anything is registered.

    MLflow checks an alias only when setting it, after the version exists: a refused one left a
    new version without its alias and a traceback. These are the registry stores' own checks.
    """
    for alias in aliases:
        try:
            _validate_model_alias_name(alias)
            _validate_model_alias_name_reserved(alias)
        except MlflowException as exc:
            raise UserError(f"--alias {alias!r}: {exc.message}") from None


def register(params: Params, model_dir: Path, aliases: list[str], extra_tags: dict[str, str]) -> str:
    """Create a registry version for the current model; reuse its run if one was logged."""
    check_aliases(aliases)
    require_server(connect(params.mlflow), "registering")
    client = MlflowClient()
    registry_answers(client, params.mlflow.model_name)
    run_id = ensure_run(params, model_dir)
    outputs = mlflow.get_run(run_id).outputs
    logged = outputs.model_outputs if outputs else []
    source = f"models:/{logged[0].model_id}" if logged else f"runs:/{run_id}/model"
    if not has_model(source):  # a version of it would fail every load: none is made
        raise Unservable(
            f"nothing registered: the model files of run {run_id} are gone from {source} (its "
            f"artifact store lost them): delete the run (`mlflow runs delete --run-id {run_id}`), then "
            "register again: a new run of the current model is logged"
        )
    tags = {**lineage.tags(model_dir), **extra_tags, "run_id": run_id}
    version = mlflow.register_model(source, params.mlflow.model_name, tags=tags)
    for alias in aliases:
        set_alias(client, params.mlflow.model_name, alias, str(version.version))
    return str(version.version)


def ensure_alias(params: Params, model_dir: Path, alias: str) -> str:
    """Point ``alias`` at the registry version of the current model, registering it if none has it.

    Idempotent, so `make run` can call it every time: the local registry then shows the model
    (under ``alias``) without a new version per run. Two at once may both register it: each
    then points the alias at the first version of the model, so they agree. A version of it
    whose run was deleted is passed over, as ``find_run`` passes over the run.
    """
    check_aliases([alias])
    identity = model_identity(model_dir).items()
    client = MlflowClient()
    name = params.mlflow.model_name

    def ours(versions: list[ModelVersion]) -> list[ModelVersion]:
        return [v for v in versions if identity <= v.tags.items() and withdrawn(client, v) is None]

    if not (found := ours(registry_answers(client, name))):
        register(params, model_dir, [], {})  # then searched again: another process may have registered it too
        found = ours(client.search_model_versions(versions_of(name)))
    first = min(found, key=lambda v: int(v.version))
    set_alias(client, name, alias, str(first.version))
    return str(first.version)
