import json
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlapp import registry, tracking
from mlapp.errors import TrackingUnavailable, UserError, redact
from mlapp.model import load
from mlapp.params import load_params
from mlapp.serving.local import free_port
from tests.conftest import REPO, answering, copy_project, sh


@pytest.fixture
def project(
    trained_project: Path, mlflow_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A copy of the trained project to register from, into the test's own empty store with its
    tables made (``mlflow_store``): each of these tests made them again, about 1.7 CPU-s."""
    root = copy_project(trained_project, tmp_path / "p")
    monkeypatch.chdir(root)
    return root


def test_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # a port nobody listens on
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with pytest.raises(TrackingUnavailable, match=f"127.0.0.1:{port}.*not reachable"):
        tracking.connect(params.mlflow)


def test_a_password_in_the_tracking_uri_is_never_printed() -> None:
    """MLflow takes http://user:password@host; the one-line error (a CI log) names the server
    without them."""
    uri = f"http://alice:s3cret@127.0.0.1:{free_port()}"  # nobody listens
    done = sh("mlapp", "pipeline", "register", cwd=REPO, check=False, env={"MLFLOW_TRACKING_URI": uri})
    assert done.returncode == 2 and "s3cret" not in done.stdout + done.stderr
    assert done.stderr.startswith("error: MLflow tracking server http://***@127.0.0.1:"), done.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("at https://u:p@h:5000/x and s3://k@bucket/a", "at https://***@h:5000/x and s3://***@bucket/a"),
        ("git@github.com:o/r.git https://github.com/o/r/a@b mail a@b.io", None),  # no URL credentials
        (  # pre-signed: S3, an Azure SAS, GCS
            "https://b.s3.amazonaws.com/x.csv?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=f00d: 403, "
            "https://a.blob.core.windows.net/c/x.csv?sv=2024&sig=Zm9v%3D&se=1 'https://g/x?x-goog-signature=ab'",
            "https://b.s3.amazonaws.com/x.csv?X-Amz-Credential=***&X-Amz-Signature=***: 403, "
            "https://a.blob.core.windows.net/c/x.csv?sv=2024&sig=***&se=1 'https://g/x?x-goog-signature=***'",
        ),
        ("?page=2&sort=sig #signature=x ?design=1", None),  # no credential parameter
        # A password holding an '@' not written %40: clients read the userinfo up to the last '@'.
        ("http://bob:p@ss@h:3000/x?a=b@c 'https://u:p@h'", "http://***@h:3000/x?a=b@c 'https://***@h'"),
    ],
)
def test_redact_hides_url_credentials_only(text: str, shown: str | None) -> None:
    assert redact(text) == (shown or text)


@contextmanager
def gatekeeper(token: str, health_open: bool, cert_dir: Path | None = None) -> Iterator[str]:
    """A proxy in front of MLflow as docs/team-mode.md advises: a bearer token on every path
    (``health_open``: not on /health, as MLflow's own --allowed-hosts and basic-auth app do);
    with ``cert_dir``, on https with a self-signed certificate made there."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            allowed = self.headers.get("Authorization") == f"Bearer {token}"
            status, body = (
                (200, b'{"experiments": []}')
                if allowed or (health_open and self.path == "/health")
                else (403, b"Invalid Host header")
            )
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server, scheme = ThreadingHTTPServer(("127.0.0.1", 0), Handler), "http"
    if cert_dir is not None:
        key, cert = cert_dir / "key.pem", cert_dir / "cert.pem"
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
           "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert), cwd=cert_dir)  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket, scheme = context.wrap_socket(server.socket, server_side=True), "https"
    with answering(server) as url:
        yield url.replace("http", scheme, 1)


@pytest.mark.parametrize("health_open", [False, True])
def test_a_server_behind_a_token_takes_mlflows_token(
    health_open: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with gatekeeper("s3cret", health_open) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret")
        assert tracking.connect(params.mlflow) == url  # /health is asked with the token too
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong")
        with pytest.raises(
            TrackingUnavailable, match=r"refused this client \(403: Invalid Host header\).*TOKEN"
        ):
            tracking.connect(params.mlflow)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # what the setting asks for
def test_a_self_signed_server_is_reached_as_mlflow_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with gatekeeper("s3cret", health_open=True, cert_dir=tmp_path) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret")
        with pytest.raises(TrackingUnavailable, match=r"reachable \(SSLError: .*INSECURE_TLS\)"):
            tracking.connect(params.mlflow)
        monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")  # MLflow's setting for it
        assert tracking.connect(params.mlflow) == url


@contextmanager
def web_server() -> Iterator[str]:
    """A plain http server that is not MLflow: a 404 page for every path."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b"<!doctype html><html><title>404 Not Found</title><h1>Not Found</h1></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url.removeprefix("http://")


def test_https_to_an_http_server_says_to_use_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "not reachable (SSLError). Start it, ...", of a server that is running."""
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with web_server() as host:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"https://{host}")
        said = r"not reachable \(SSLError: an https:// URL of a server that speaks http \(use http://\)"
        with pytest.raises(TrackingUnavailable, match=said):
            tracking.connect(params.mlflow)


def test_a_path_the_server_does_not_serve_names_the_static_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the page's HTML (120 characters of it) and "is it an MLflow server's URL?"."""
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with web_server() as host:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://{host}/mlflow")
        with pytest.raises(TrackingUnavailable) as refused:
            tracking.connect(params.mlflow)
    assert str(refused.value) == (
        f"http://{host}/mlflow answered /api/2.0/mlflow/experiments/search with 404: Not Found: no "
        "MLflow API at this URL. A path after the host must be the server's --static-prefix (or where a "
        "proxy serves it); a server without one needs none."
    )


@pytest.mark.parametrize("uri", ["127.0.0.1:5000", "mlflow.example.com:5000", "file:///tmp/mlruns"])
def test_a_tracking_uri_without_a_server_scheme_is_one_line(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with pytest.raises(TrackingUnavailable, match=r"names no server.*http\(s\)://HOST"):
        tracking.connect(params.mlflow)


@pytest.mark.usefixtures("mlflow_store")
def test_a_deleted_experiment_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    tracking.connect(params.mlflow)
    MlflowClient().delete_experiment(mlflow.create_experiment(params.mlflow.experiment))
    with pytest.raises(
        UserError, match=r"was deleted.*`uv run mlflow experiments restore --experiment-id \d+`"
    ):
        tracking.use_experiment(params.mlflow.experiment)


def test_a_server_failing_before_the_run_starts_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between `connect` and the run's creation: MLflow's retries end in its exception."""

    def gone(*_args: object, **_kwargs: object) -> None:
        raise MlflowException(
            "API request to http://127.0.0.1:1/api/2.0/mlflow/experiments/get-by-name failed"
        )

    params = load_params(Path(__file__).parents[2] / "params.yaml")
    monkeypatch.setattr(tracking, "lineage_tags", lambda _model_dir: {})
    monkeypatch.setattr(mlflow, "get_experiment_by_name", gone)
    monkeypatch.setattr(mlflow, "set_experiment", gone)
    mlflow.set_tracking_uri("http://127.0.0.1:1")
    with pytest.raises(TrackingUnavailable, match=r"127\.0\.0\.1:1 failed while starting a run"):
        tracking.log_run(params, tmp_path, {}, {}, tmp_path)


@pytest.mark.slow
def test_register_logs_lineage_and_moves_aliases(project: Path) -> None:
    params = load_params()
    first = registry.register(params, Path("models"), ["staging"], {"image.digest": "sha256:abc"})
    second = registry.register(params, Path("models"), ["production"], {})
    client = MlflowClient()
    version = client.get_model_version_by_alias(params.mlflow.model_name, "staging")
    assert str(version.version) == first
    assert str(client.get_model_version_by_alias(params.mlflow.model_name, "production").version) == second
    tags = version.tags
    assert tags["image.digest"] == "sha256:abc"
    assert tags["model.sha256"] == load(Path("models")).sha256
    assert len(tags["git.commit"]) == 40 and tags["git.dirty"] in {"true", "false"}
    assert tags["data.md5"].endswith(".dir")
    assert {"dvc.lock.train", "dvc.lock.validate"} <= set(tags)
    # Both versions come from the same run: the model was logged once.
    run = client.get_run(tags["run_id"])
    assert run.data.metrics["roc_auc"] > 0.5
    assert run.data.params["train.xgboost.tree_method"] == "hist"


@pytest.mark.slow
def test_track_with_an_alias_registers_the_model_once(project: Path) -> None:
    """`make run` calls `mlapp pipeline track --alias candidate` every time: one version, aliased."""
    from click.testing import CliRunner

    from mlapp.cli import cli

    for _ in range(2):
        result = CliRunner().invoke(cli, ["pipeline", "track", "--alias", "candidate"])
        assert result.exit_code == 0, result.output
    assert "version 1 is @candidate" in result.output
    params = load_params()
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{params.mlflow.model_name}'")
    assert [str(v.version) for v in versions] == ["1"]
    aliased = client.get_model_version_by_alias(params.mlflow.model_name, "candidate")
    assert aliased.tags["model.sha256"] == load(Path("models")).sha256


# A consumer of the registry without mlapp installed: every module of ours the model needs must
# come from the code logged with it. Prints the predictions, and the package's files logged and
# imported (relative to the logged package).
CONSUMER = """
import importlib.util, json, sys
from pathlib import Path
sys.dont_write_bytecode = True  # what is in the model's folder after loading is what was logged
sys.path[:] = [p for p in sys.path if not (Path(p or ".") / "mlapp").is_dir()]
assert importlib.util.find_spec("mlapp") is None, "mlapp is importable without the model's code"
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
got = model.predict(pd.read_parquet(sys.argv[2]))["probability"].tolist()
root = Path(sys.modules["mlapp"].__file__).parent
files = lambda paths: sorted(str(Path(p).relative_to(root)) for p in paths)
imported = files(m.__file__ for n, m in list(sys.modules.items()) if n.split(".")[0] == "mlapp")
print(json.dumps({"probability": got, "imported": imported, "logged": files(root.rglob("*.*"))}))
"""


@pytest.mark.slow
def test_logged_pyfunc_predicts_like_the_model_without_pickle(project: Path) -> None:
    params = load_params()
    registry.register(params, Path("models"), ["staging"], {})
    uri = f"models:/{params.mlflow.model_name}@staging"
    pyfunc = mlflow.pyfunc.load_model(uri)
    test = pd.read_parquet(params.split.test).head(50)
    features = test.drop(columns=["customer_id", "event_time", "churned"])
    got = pyfunc.predict(features)["probability"].to_numpy()
    expected = load(Path("models")).predict_proba(test)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    artifacts = {p.name for p in Path(pyfunc.metadata.artifact_path or ".").glob("**/*")}
    assert not any(name.endswith((".pkl", ".pickle")) for name in artifacts)

    features.to_parquet(rows := project / "rows.parquet")
    consumer = json.loads(sh(sys.executable, "-c", CONSUMER, uri, rows, cwd=project).stdout)
    np.testing.assert_allclose(consumer["probability"], expected, rtol=1e-6)
    # What it logs is what loading and predicting import: no module sent with every run for nothing
    # (each is an upload), no __pycache__.
    assert consumer["logged"] == consumer["imported"]
    assert "model.py" in consumer["logged"]


def test_register_refuses_a_runner_local_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    params = load_params(Path(__file__).parents[2] / "params.yaml")
    with pytest.raises(TrackingUnavailable, match="MLFLOW_TRACKING_URI is not set"):
        registry.register(params, Path("models"), [], {})


@pytest.mark.slow
def test_track_logs_a_missing_run_once(project: Path) -> None:
    """A fresh clone's repro skips evaluate; `mlapp pipeline track` fills the empty store, then reuses."""
    params = load_params()
    first = tracking.ensure_run(params, Path("models"))
    assert tracking.ensure_run(params, Path("models")) == first
    run = MlflowClient().get_run(first)
    assert run.data.tags["model.sha256"] == load(Path("models")).sha256
    assert run.data.metrics["roc_auc"] == pytest.approx(
        json.loads(Path(params.evaluate.metrics).read_text())["roc_auc"]
    )


@pytest.mark.slow
def test_a_run_is_reused_only_for_the_same_model_and_spec(project: Path, tmp_path: Path) -> None:
    """Same booster bytes, another spec (an experiment with a fixed threshold, then reverted:
    `dvc checkout` brings the old outputs back without evaluate): each has its own run, and the
    registry's model serves the spec of the directory registered, not the other one's."""
    params = load_params()
    first = tracking.ensure_run(params, Path("models"))
    experiment = tmp_path / "experiment"
    experiment.mkdir()
    for name in ("model.ubj", "model_spec.json"):
        (experiment / name).write_bytes((Path("models") / name).read_bytes())
    spec = json.loads((experiment / "model_spec.json").read_text())
    (experiment / "model_spec.json").write_text(json.dumps({**spec, "threshold": 0.5}))
    second = tracking.ensure_run(params, experiment)
    assert second != first and tracking.ensure_run(params, Path("models")) == first
    registry.ensure_alias(params, experiment, "candidate")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{params.mlflow.model_name}@candidate")
    assert pyfunc.unwrap_python_model().model.spec.threshold == 0.5
    registry.ensure_alias(params, Path("models"), "candidate")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{params.mlflow.model_name}@candidate")
    assert pyfunc.unwrap_python_model().model.spec.threshold == spec["threshold"]


@pytest.mark.slow
def test_two_tracks_at_once_agree_on_the_first_version(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `make run`s at once both find no version of the model and both register one: each
    points the alias at the first, so the alias and what each says agree."""
    params = load_params()
    original = registry.register

    def other_process_first(*args, **kwargs):  # the other `track` registered between our search and ours
        original(*args, **kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(registry, "register", other_process_first)
    assert registry.ensure_alias(params, Path("models"), "candidate") == "1"
    aliased = MlflowClient().get_model_version_by_alias(params.mlflow.model_name, "candidate")
    assert str(aliased.version) == "1"


@pytest.mark.slow
def test_only_the_repository_that_owns_a_model_registers_into_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest version recording a repository names the owner; versions recording none
    (registered before the tag, or from a clone without a remote) claim nothing."""
    params = load_params()
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert registry.register(params, Path("models"), ["production"], {}) == "1"  # no remote: unknown
    sh("git", "remote", "add", "origin", "git@github.com:Acme/Churn.git", cwd=project)
    assert registry.register(params, Path("models"), ["production"], {}) == "2"
    tags = MlflowClient().get_model_version(params.mlflow.model_name, "2").tags
    assert tags["git.repository"] == "github.com/acme/churn"
    sh("git", "remote", "set-url", "origin", "git@github-work:acme/churn.git", cwd=project)  # an ssh alias
    assert registry.register(params, Path("models"), [], {}) == "3"
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")  # its CI, over https: the same repository
    assert registry.register(params, Path("models"), [], {}) == "4"
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/fraud")
    owned = (
        r"'mlapp' in sqlite:.* belongs to github.com/acme/churn \(it built version 4\), "
        "this is github.com/acme/fraud: .*mlflow.model_name"
    )
    with pytest.raises(registry.OwnedElsewhere, match=owned):
        registry.register(params, Path("models"), ["production"], {})
    with pytest.raises(registry.OwnedElsewhere, match=owned):
        registry.ensure_alias(params, Path("models"), "production")
    monkeypatch.delenv("GITHUB_REPOSITORY")
    sh("git", "remote", "remove", "origin", cwd=project)
    with pytest.raises(registry.OwnedElsewhere, match="this clone names none"):
        registry.register(params, Path("models"), [], {})
    aliased = MlflowClient().get_model_version_by_alias(params.mlflow.model_name, "production")
    assert str(aliased.version) == "2"


@pytest.mark.slow
def test_a_run_of_the_same_model_from_another_repository_is_not_reused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clones of the template on one server train the same model bytes: each registers
    from its own run, never from the other team's (whose deletion would take the model along)."""
    params = load_params()
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/churn")
    theirs = tracking.ensure_run(params, Path("models"))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/fraud")
    ours = tracking.ensure_run(params, Path("models"))
    assert ours != theirs and tracking.ensure_run(params, Path("models")) == ours
    assert MlflowClient().get_run(ours).data.tags["git.repository"] == "github.com/acme/fraud"


def test_a_ready_made_store_is_the_tests_own(mlflow_store: Path, tmp_path: Path) -> None:
    """tests/pipeline/conftest.py copies a store made once: the copy is the one MLflow uses, and
    its Default experiment keeps artifacts in this test's folder, not in the shared original."""
    client = MlflowClient()
    assert [e.name for e in client.search_experiments()] == ["Default"]
    location = client.get_experiment("0").artifact_location
    assert location.endswith(f"{tmp_path}/mlruns/0"), location
    assert mlflow.get_tracking_uri() == f"sqlite:///{mlflow_store}"
