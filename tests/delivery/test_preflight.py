"""A deploy that would end unverifiable (no registry) stops before it changes any environment."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import REPO

from mlapp.cli import cli

DIGEST = "ghcr.io/acme/churn@sha256:" + "a" * 64


@pytest.mark.parametrize(
    "args",
    [
        ["delivery", "deploy", "--env", "staging", "--image", DIGEST, "--apply"],
        ["delivery", "promote", "--to", "production", "--apply"],
        ["delivery", "rollback", "--env", "production", "--apply"],
    ],
)
def test_apply_without_a_tracking_server_fails_first(
    args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.chdir(tmp_path)  # no git repo, no deploy branch: it must not get that far
    result = CliRunner().invoke(cli, ["--params", str(REPO / "params.yaml"), *args])
    assert result.exit_code != 0
    assert "MLFLOW_TRACKING_URI is not set" in str(result.exception) + result.output
