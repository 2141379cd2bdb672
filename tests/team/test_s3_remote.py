"""DVC data through an S3 remote: push with the README's one-command switch, pull in a fresh clone.

The S3 side is moto's server (`moto_server`, from the dev group), started here on a free
loopback port; credentials come from the environment, as on a runner after an OIDC login.
A real bucket needs no endpoint: `endpointurl` is set in `.dvc/config.local` (never committed).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import boto3
import httpx
import pytest

from mlapp.serving.local import free_port
from tests.conftest import BIN, REPO, sh
from tests.team.test_mlflow_server import own_server, poll_until, team_project

pytestmark = pytest.mark.slow
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mlapp-test",
    "AWS_SECRET_ACCESS_KEY": "mlapp-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll_until(lambda: _answers(url), proc, log, "moto_server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.TransportError:
        return False


def readme_switch() -> str:
    """The README's remote switch, verbatim (the test runs what users are told to run)."""
    found = re.search(r"`(uv run dvc remote add -d -f storage s3://my-bucket/dvc && "
                      r"uv run dvc remote modify storage verify true && uv run dvc push)`",
                      (REPO / "README.md").read_text())  # fmt: skip
    assert found, "README no longer shows the one-command S3 remote switch"
    return found.group(1)


def test_push_with_the_readme_switch_and_pull_in_a_fresh_clone(s3, project, tmp_path, monkeypatch) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = "mlapp-team-test"
    boto3.client("s3", endpoint_url=s3).create_bucket(Bucket=bucket)
    switch = readme_switch().replace("my-bucket", bucket).replace("uv run ", "")
    add, verify, push = (part.split() for part in switch.split(" && "))
    sh(*add, cwd=project)
    sh(*verify, cwd=project)
    sh("dvc", "remote", "modify", "--local", "storage", "endpointurl", s3, cwd=project)
    pushed = sh(*push, cwd=project)
    assert "pushed" in pushed.stdout
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3).list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("dvc/files/md5/") for k in keys)
    sh("git", "commit", "-qam", "data in S3", cwd=project)

    clone = tmp_path / "clone"
    sh("git", "clone", "-q", project, clone, cwd=tmp_path)
    assert not (clone / "data").exists()
    sh("dvc", "remote", "modify", "--local", "storage", "endpointurl", s3, cwd=clone)
    sh("dvc", "pull", "data.dvc", cwd=clone)
    assert (clone / "data" / "churn.csv").read_bytes() == (project / "data" / "churn.csv").read_bytes()

    # Credentials come from the environment only: without them the pull is refused.
    for key in CREDENTIALS:
        monkeypatch.delenv(key)
    (clone / "data" / "churn.csv").unlink()
    sh("dvc", "cache", "dir", "--local", str(tmp_path / "empty-cache"), cwd=clone)
    refused = sh("dvc", "pull", "data.dvc", cwd=clone, check=False, env={"AWS_CONFIG_FILE": "/dev/null"})
    assert refused.returncode != 0

    # Whoever can write the bucket cannot swap what a commit's pointers name (the model cd ships,
    # the data): `verify` re-hashes every download, so a replaced object is refused, not used.
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in (k for k in keys if not k.endswith(".dir")):  # the files, not the folder's listing
        boto3.client("s3", endpoint_url=s3).put_object(Bucket=bucket, Key=key, Body=b"swapped\n")
    sh("dvc", "cache", "dir", "--local", str(tmp_path / "fresh-cache"), cwd=clone)
    swapped = sh("dvc", "pull", "data.dvc", cwd=clone, check=False)
    assert swapped.returncode != 0 and not (clone / "data" / "churn.csv").exists(), swapped.stdout


def test_an_mlflow_artifact_store_without_its_bucket_is_one_line(s3, trained_project, tmp_path) -> None:
    """docs/team-mode.md's server with `--artifacts-destination s3://...` whose bucket does not
    exist (a wrong name, or not created yet). Before: "failed while logging run ...
    (MlflowException) ... when the server answers again", of a server that answers."""
    bucket_env = {**CREDENTIALS, "MLFLOW_S3_ENDPOINT_URL": s3}  # the server's, never the runner's
    backend, log = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlflow-server.log"
    with own_server(backend, "s3://no-such-bucket/mlflow", log, env=bucket_env) as (url, _proc):
        root, env = team_project(trained_project, tmp_path / "p", url)
        done = sh("mlapp", "pipeline", "track", cwd=root, env=env, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    said = done.stderr.splitlines()[-1]
    # the server answers 500 to a small upload, and may close a larger one's connection first
    assert re.match(
        rf"error: MLflow tracking server {url} answers, but storing artifacts failed while logging "
        r"run \w+ \((too many 500 error responses|ConnectionError); 2 tries\)",
        said,
    ), said
    assert "its artifact store failed (the server's --artifacts-destination: a missing bucket" in said
    assert "the server's log says which); no " in said, said  # one sentence with what is left
    # what to wait for: not "when the server answers", of a server that answered every time
    assert said.endswith("Run `mlapp pipeline track` again once its artifact store works."), said
    assert "NoSuchBucket" in log.read_text()  # the reason, in the server's log as the line says
