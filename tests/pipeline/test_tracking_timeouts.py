"""A tracking server that accepts connections and never answers: bounded, and said with the
setting that waits longer. The server is a real listening socket that never replies; each test
sets a 1 s MLFLOW_HTTP_REQUEST_TIMEOUT itself, and asserts on what is said, never on durations."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from mlapp import tracking
from mlapp.errors import TrackingUnavailable
from mlapp.params import load_params
from mlapp.tracking_failures import raise_if_server_failed
from mlapp.tracking_timeouts import DEFAULTED, TIMEOUT, uploading

PARAMS = Path(__file__).parents[2] / "params.yaml"


def test_a_server_that_never_answers_connect_names_the_setting(
    silent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "not reachable (ConnectionError). Start it, ..." of a server that is running."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", silent)
    monkeypatch.setenv(TIMEOUT, "1")
    with pytest.raises(TrackingUnavailable) as refused:
        tracking.connect(load_params(PARAMS).mlflow)
    assert str(refused.value) == (
        f"MLflow tracking server {silent} accepted the connection but did not answer within 1 s to "
        "/api/2.0/mlflow/experiments/search (is it stuck? its log may say); to wait longer, set "
        "MLFLOW_HTTP_REQUEST_TIMEOUT (seconds) higher."
    )


def test_a_call_that_timed_out_says_how_long_it_waited(silent: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "failed while starting a run (MlflowException);". The seconds are the ones the call
    waited, also once the setting changed back (an upload waits longer than `connect`'s default)."""
    monkeypatch.setenv(TIMEOUT, "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    mlflow.set_tracking_uri(silent)
    with pytest.raises(Exception) as failed:
        mlflow.get_experiment_by_name("mlapp")
    monkeypatch.setenv(TIMEOUT, "30")
    with pytest.raises(TrackingUnavailable) as said:
        raise_if_server_failed(failed.value, "starting a run")
    assert str(said.value).startswith(
        f"MLflow tracking server {silent} accepted the connection but did not answer within 1 s while "
        "starting a run, on each of 2 tries (is it stuck? its log may say); to wait longer, set "
        "MLFLOW_HTTP_REQUEST_TIMEOUT (seconds) higher; what it did before stays"
    )


def test_connect_bounds_mlflows_wait_unless_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's 120 s per try, 5 tries, held evaluate 640 s on a server that stopped answering."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in (TIMEOUT, DEFAULTED):  # restored after the test, as they were; unset below
        monkeypatch.setenv(name, "unset below")
        monkeypatch.delenv(name)
    tracking.connect(load_params(PARAMS).mlflow)
    assert os.environ[TIMEOUT] == "30"
    monkeypatch.setenv(TIMEOUT, "300")
    tracking.connect(load_params(PARAMS).mlflow)
    assert os.environ[TIMEOUT] == "300"


@pytest.mark.parametrize(("users", "during"), [(None, "120"), ("30", "30"), ("300", "300"), ("5", "5")])
def test_uploads_keep_mlflows_wait_unless_the_user_set_one(
    users: str | None, during: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server storing artifacts in S3 answers an upload once it stored the whole file. Before, a
    user's own 30 s was taken for `connect`'s default (its value) and uploads waited 120 s."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in (TIMEOUT, DEFAULTED):  # restored after the test, as they were; unset below
        monkeypatch.setenv(name, "unset below")
        monkeypatch.delenv(name)
    if users is not None:
        monkeypatch.setenv(TIMEOUT, users)
    tracking.connect(load_params(PARAMS).mlflow)
    before = os.environ[TIMEOUT]
    assert before == users or users is None
    with uploading():
        assert os.environ[TIMEOUT] == during
    assert os.environ[TIMEOUT] == before


def test_a_second_connect_probes_within_the_first_ones_bound(
    silent: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first `connect` sets MLFLOW_HTTP_REQUEST_TIMEOUT for MLflow's API calls (30 s), in the
    environment a stage's process inherits too. Before, a second `connect` (in this process or a
    child) took that for the user's and probed a silent server for 30 s, not PROBE_TIMEOUT_S."""
    for name in (TIMEOUT, DEFAULTED):  # restored after the test, as they were; unset below
        monkeypatch.setenv(name, "unset below")
        monkeypatch.delenv(name)
    monkeypatch.setattr(tracking, "PROBE_TIMEOUT_S", "1")  # the bound in effect, short here
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.connect(load_params(PARAMS).mlflow)
    assert os.environ[TIMEOUT] == "30"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", silent)
    with pytest.raises(TrackingUnavailable, match=r"did not answer within 1 s to /api/2\.0/mlflow/"):
        tracking.connect(load_params(PARAMS).mlflow)
