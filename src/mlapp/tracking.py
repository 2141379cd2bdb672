"""MLflow: one run per evaluated model with lineage tags, and registry versions.

Tracking defaults to a local sqlite file (params.yaml ``mlflow.tracking_uri``);
``MLFLOW_TRACKING_URI`` points at a server. A server that does not answer is an
error before any work is done, never a silently dropped run.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.request_utils import _TRANSIENT_FAILURE_RESPONSE_CODES as TRANSIENT

from mlapp import gha
from mlapp import plots as plot_png
from mlapp.errors import TrackingUnavailable, UserError, redact
from mlapp.files import read_json
from mlapp.lineage import REPOSITORY_TAG, repository
from mlapp.lineage import identity as model_identity
from mlapp.lineage import tags as lineage_tags
from mlapp.metrics import flat
from mlapp.model import load
from mlapp.model_code import code_path
from mlapp.params import MlflowParams, Params
from mlapp.tables import read_frame
from mlapp.tracking_failures import CREDENTIALS, RunNotLogged, creatable, end_failed, raise_if_server_failed
from mlapp.tracking_timeouts import RETRIES, default_timeout, timed_out, uploading, users_timeout, waited

PYFUNC_FILE = Path(__file__).with_name("mlflow_pyfunc.py")
SERVING_REQUIREMENTS = ("xgboost-cpu", "pandas", "numpy", "pyarrow", "mlflow")
PROBE = "/api/2.0/mlflow/experiments/search"  # the cheapest call every MLflow server answers
PROBE_TIMEOUT_S = "10"  # unless MLFLOW_HTTP_REQUEST_TIMEOUT is set: a healthy server answers in ms
DATABRICKS = ("databricks", "databricks-uc", "uc")  # MLflow's scheme-less URIs that are not folders


def connect(params: MlflowParams) -> str:
    uri = params.resolved_tracking_uri()
    if ("://" not in uri or uri.startswith("file:")) and uri not in DATABRICKS:  # e.g. HOST:PORT
        raise TrackingUnavailable(
            f"MLflow tracking URI {uri!r} names no server (MLflow reads it as a folder, its file store, "
            "which MLflow 3 refuses): "
            "a server is http(s)://HOST[:PORT]; the local default is sqlite:///mlflow.db"
        )
    # MLflow retries a failed request 7 times, its backoff doubling up to 120 s: a server killed
    # mid-run failed evaluate after 494 s (247 s per call, and marking the run failed). 4 retries
    # still ride out a restart or a proxy's 502s for about 30 s.
    os.environ.setdefault(RETRIES, "4")
    if uri.startswith(("http://", "https://")):
        # Not the API calls' bound, which an earlier connect of this process (or its parent) set
        _answering(uri, users_timeout() or PROBE_TIMEOUT_S)
    default_timeout()  # not 120 s per try (tracking_timeouts.TIMEOUT)
    # Models are loaded from our own files; never let MLflow fall back to unpickling.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # clean CI logs
    if redact(uri) != uri:  # MLflow's "View run ... at: <URI>" lines would print its password
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # MLflow narrates every step at INFO (tables created, uv project found, signature inferred):
    # ours are the progress lines. Its "no pip version" warning is about uv venvs having no pip,
    # harmless since log_run passes the requirements explicitly.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # It logs the whole traceback of each database error it raises again (a full disk: 100 lines
    # before the command's own one-line error); the error itself still reaches the command.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    creatable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _answering(uri: str, seconds: str) -> None:
    """One API call as MLflow makes them (token, user/password, MLFLOW_TRACKING_INSECURE_TLS and
    the other TLS settings), made again as MLflow's are only after a status MLflow retries: a bare
    /health answers without credentials, so a proxy's or the basic-auth app's refusal, or
    ``--allowed-hosts`` (403), would first show as a traceback mid-run, and a server MLflow
    reaches with its TLS settings was called unreachable."""
    from mlflow.tracking._tracking_service.utils import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    def probe(retries: int) -> requests.Response:
        return http_request(get_default_host_creds(uri), PROBE, "GET", max_retries=retries,
                            timeout=float(seconds), raise_on_status=False,
                            params={"max_results": 1})  # fmt: skip

    retries = int(os.environ[RETRIES])
    try:
        answer = probe(0)  # a refused port or a silent server fails now, not after the backoffs
        if answer.status_code in TRANSIENT:  # retried as MLflow's own calls are; a GET is safe to
            answer = probe(retries)  # repeat, and a server restarting behind a proxy is back
    except (MlflowException, requests.RequestException) as exc:
        if kind := timed_out(exc):  # running, or a firewall: not "Start it"
            raise TrackingUnavailable(f"{waited(uri, kind, seconds, f'to {PROBE}')}.") from exc
        wrapped = exc.__context__  # MLflow raises its own exception inside the handler of requests'
        cause = wrapped if isinstance(wrapped, requests.RequestException) else exc
        tls = (
            ": an https:// URL of a server that speaks http (use http://), or a certificate this "
            "machine does not trust (MLFLOW_TRACKING_SERVER_CERT_PATH; MLFLOW_TRACKING_INSECURE_TLS)"
        )
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} is not reachable ({cause.__class__.__name__}"
            f"{tls if isinstance(cause, requests.exceptions.SSLError) else ''}). "
            "Start it, fix MLFLOW_TRACKING_URI, or unset it to use the local sqlite default."
        ) from exc
    if not answer.ok:
        raise TrackingUnavailable(_refusal(uri, answer, retries))


def _refusal(uri: str, answer: requests.Response, retries: int) -> str:
    """What the probe's error status (not ``ok``) says about ``uri``, and what to do."""
    html = "html" in answer.headers.get("Content-Type", "")  # a web server's page: its status says it
    said = f"{answer.status_code}: {answer.reason if html else ' '.join(answer.text.split())[:120]}"
    if answer.status_code in (401, 403):
        return (
            f"MLflow tracking server {uri} refused this client ({said}): check {CREDENTIALS}, and "
            "that the server's --allowed-hosts names this host"
        )
    if answer.status_code == 404:  # MLflow's --static-prefix moves its API under that path
        return (
            f"{uri} answered {PROBE} with {said}: no MLflow API at this URL. A path after the host "
            "must be the server's --static-prefix (or where a proxy serves it); a server without one "
            "needs none."
        )
    if answer.status_code in TRANSIENT:
        return (
            f"MLflow tracking server {uri} answered {PROBE} with {said} on each of {retries + 2} tries: "
            "it, or a proxy in front of it, is failing (its log says why). Run this again when it "
            f"answers; {RETRIES} ({retries} now) sets how often a call is retried."
        )
    return f"{uri} answered {PROBE} with {said}: is it an MLflow server's URL?"


def require_server(uri: str, what: str, error: type[UserError] = TrackingUnavailable) -> None:
    """In GitHub Actions, refuse the local sqlite default: it dies with the job's runner."""
    if gha.is_actions() and uri.startswith("sqlite:"):
        raise error(
            f"MLFLOW_TRACKING_URI is not set in this GitHub environment: {what} needs a tracking "
            "server (variable MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_TOKEN or USERNAME/PASSWORD "
            "as secrets), see docs/github-setup.md"
        )


def _flat_params(params: Params) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section in ("data", "split", "train"):
        for key, value in getattr(params, section).model_dump().items():
            if isinstance(value, dict):
                flat.update({f"{section}.{key}.{k}": v for k, v in value.items()})
            else:
                flat[f"{section}.{key}"] = value
    return flat


def _requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in SERVING_REQUIREMENTS]


def experiment_tags() -> dict[str, str]:
    """The DVC experiment this run belongs to (DVC names it in the stage's environment)."""
    names = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.exp_baseline"}
    return {tag: os.environ[var] for var, tag in names.items() if os.environ.get(var)}


def log_run(
    params: Params, model_dir: Path, scores: dict[str, Any], plots: dict[str, Any], plots_dir: Path
) -> str:
    """Log params, metrics, plots, the model (as code + native files) and lineage tags.

    A server that fails mid-run (it answered `connect`) is a ``RunNotLogged`` naming the run (or
    saying it failed before the run started), completed by the command's ``store_free``; the run
    stays unfinished in the store and ``find_run`` never picks it.
    """
    tags = {**lineage_tags(model_dir), **experiment_tags()}
    # What MLflow's basic auth wants (a proxy's rules may differ): EDIT to create or log to a run.
    experiment = params.mlflow.experiment
    may = f"create and log runs in experiment {experiment!r} (EDIT on it, in MLflow's basic auth)"
    try:
        use_experiment(experiment)
        run = mlflow.start_run(run_name=tags.get("dvc.exp_name"), tags=tags)
    except Exception as exc:
        raise_if_server_failed(exc, "starting a run", error=RunNotLogged, may=may)
        raise
    try:
        with uploading():
            _log_into_run(params, model_dir, scores, plots, plots_dir)
    except Exception as exc:
        end_failed()
        raise_if_server_failed(exc, f"logging run {run.info.run_id}", error=RunNotLogged, may=may)
        raise
    mlflow.end_run()
    return str(run.info.run_id)


def use_experiment(name: str) -> None:
    """``mlflow.set_experiment``; a deleted experiment, whose name MLflow will not reuse, in one line.

    Creating a missing one is a right of its own in MLflow's basic auth (USE on the workspace, with
    workspaces on), which EDIT on an experiment does not give: its refusal (403 to
    experiments/create) is a ``RunNotLogged`` naming it, not the run's permissions."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage == "deleted":
        restore = f"uv run mlflow experiments restore --experiment-id {found.experiment_id}"
        raise UserError(
            f"MLflow experiment {name!r} was deleted in {mlflow.get_tracking_uri()}: restore it "
            f"(`{restore}`) or name another in params.yaml (mlflow.experiment)"
        )
    try:
        mlflow.set_experiment(name)  # creates it if missing
    except Exception as exc:
        if found is None:
            may = (
                "create experiments (USE on the workspace, in MLflow's basic auth), or that an "
                f"admin creates experiment {name!r} and gives this user EDIT on it"
            )
            raise_if_server_failed(exc, f"creating experiment {name!r}", error=RunNotLogged, may=may)
        raise


def _log_into_run(
    params: Params, model_dir: Path, scores: dict[str, float], plots: dict[str, Any], plots_dir: Path
) -> None:
    model = load(model_dir)
    mlflow.log_params(_flat_params(params))
    mlflow.log_metrics({metric_key(k): v for k, v in flat(scores).items()})
    if plots_dir.is_dir():
        mlflow.log_artifacts(str(plots_dir), artifact_path="plots")
    with tempfile.TemporaryDirectory() as tmp:
        plot_png.render_all({"model": plots}, Path(tmp))
        plot_png.importance(plots["importance"], Path(tmp) / "importance.png")
        mlflow.log_artifacts(tmp, artifact_path="plots")
    # Raw feature columns (not the model matrix) so the signature matches what callers send.
    sample = read_frame(params.split.test).loc[:, model.spec.features].head(5)
    # MLflow's check of the example fails on <NA> (and no signature is logged): a nullable
    # whole number (pandas Int64) is a double, as MLflow advises for an int with gaps; a nullable
    # boolean is an optional boolean (object column: its check passes on <NA>).
    nullable: dict[str, Any] = {"Int64": "float64", "boolean": object}
    sample = sample.astype({n: nullable[str(t)] for n, t in sample.dtypes.items() if str(t) in nullable})
    with warnings.catch_warnings(), code_path(PYFUNC_FILE) as code:
        # MLflow hints that int columns cannot hold NaN; ours are declared non-null.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={"model_dir": str(model_dir)},
            code_paths=[code],
            pip_requirements=_requirements(),
            input_example=sample,
        )


def metric_key(name: str) -> str:
    """MLflow metric names allow letters, digits, ``_-. /``: a class name may hold others."""
    return re.sub(r"[^\w\-. /]", "_", name)


def find_run(params: Params, identity: dict[str, str]) -> str | None:
    """The latest complete run tagged with every one of ``identity``'s tags."""
    experiment = mlflow.get_experiment_by_name(params.mlflow.experiment)
    if experiment is None:
        return None
    tagged = " and ".join(f"tags.`{tag}` = '{value}'" for tag, value in identity.items())
    runs = MlflowClient().search_runs(
        [experiment.experiment_id],
        # Only complete runs: one whose server died mid-way may lack the model.
        f"{tagged} and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def ensure_run(params: Params, model_dir: Path) -> str:
    """The run of the current model, logged from the committed metrics if the store has none.

    A fresh clone's `dvc repro` skips evaluate (its committed outputs are current), and CI may
    restore outputs from a DVC cache: either way no run was logged in *this* tracking store.
    Only this repository's run is reused: two clones of the template train the same bytes, and
    a version registered from another team's run loses its model when they delete that run.
    """
    run_id = find_run(params, {**model_identity(model_dir), REPOSITORY_TAG: repository()})
    if run_id is None:
        scores = read_json(params.evaluate.metrics)
        plots = {p.stem: read_json(p) for p in params.evaluate.plots_dir.glob("*.json")}
        run_id = log_run(params, model_dir, scores, plots, params.evaluate.plots_dir)
    return run_id
