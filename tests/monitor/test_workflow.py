"""retrain.yml calls the commands the other tests exercise, and wires their outputs correctly."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlapp.gha import parse_outputs
from tests.conftest import REPO, run_main
from tests.delivery.steps import command

WORKFLOW = REPO / ".github" / "workflows" / "retrain.yml"


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict[str, Any]) -> list[list[str]]:
    return [shlex.split(step["run"]) for step in job["steps"] if "run" in step]


def test_triggers_are_a_schedule_and_manual_runs_only() -> None:
    triggers = _workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}


def test_monitor_job_is_read_only_and_exports_the_decision() -> None:
    job = _workflow()["jobs"]["monitor"]
    assert job["permissions"] == {"contents": "read"}
    step = next(s for s in job["steps"] if s.get("id") == "monitor")
    words = shlex.split(step["run"])
    assert words[:2] == ["uv", "run"] and "--frozen" in words
    assert words[words.index("mlapp") :][:3] == ["mlapp", "monitor", "run"]
    assert "--exit-zero" in words and "--github-output" in words  # exit 2 still fails the job
    assert job["outputs"]["retrain"] == "${{ steps.monitor.outputs.retrain }}"  # key written by monitor


def test_pull_request_job_runs_the_tested_commands_in_order() -> None:
    job = _workflow()["jobs"]["pull-request"]
    assert "needs.monitor.outputs.retrain == 'true'" in job["if"]
    assert set(job["permissions"]) == {"contents", "pull-requests"}
    commands = [w[w.index("mlapp") :][:3] for w in _runs(job) if w[:2] == ["uv", "run"]]
    assert commands == [
        ["mlapp", "monitor", "retrain-prepare"],
        ["mlapp", "monitor", "retrain-publish"],
        ["mlapp", "monitor", "retrain-pr"],
    ]
    later = [s for s in job["steps"] if s.get("run", "").endswith(("retrain-publish", "retrain-pr"))]
    assert all(s["if"] == "steps.prepare.outputs.changed == 'true'" for s in later)


def test_no_caches_and_no_expressions_in_run_steps() -> None:
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")
            if step.get("uses", "").startswith("astral-sh/setup-uv@"):
                assert step["with"]["enable-cache"] is False
            assert not step.get("uses", "").startswith("actions/cache@")


def test_the_pull_request_job_keeps_no_credentials_only_the_push_and_pr_steps_get_a_token() -> None:
    """Its token can push any branch (the deploy branch too): not in .git/config while the
    dependencies install and the pipeline runs on an outside batch."""
    steps = _workflow()["jobs"]["pull-request"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False}
    holding = [s["run"].split("mlapp ")[-1] for s in steps if "GH_TOKEN" in s.get("env", {})]
    assert holding == ["monitor retrain-publish", "monitor retrain-pr"]


def _gate() -> dict[str, Any]:
    return next(s for s in _workflow()["jobs"]["monitor"]["steps"] if s.get("id") == "source")


def test_a_run_without_a_batch_stops_after_the_install_on_the_gates_output() -> None:
    """The schedule ran with CT_ENABLED alone and failed (exit 2) until monitor.source was set."""
    steps = _workflow()["jobs"]["monitor"]["steps"]
    gate = steps.index(_gate())
    assert steps[gate - 1]["run"] == "make sync-pipeline"
    assert _gate()["env"] == {"MONITOR_SOURCE": "${{ inputs.source }}"}  # as the monitor step gets it
    for step in steps[gate + 1 :]:
        assert "steps.source.outputs.ready == 'true'" in step["if"], step["name"]


@pytest.mark.parametrize(
    ("given", "configured", "ready"),
    [("", None, False), ("", "data/recent.csv", True), ("s3://bucket/recent.csv", None, True)],
)
def test_the_gate_step_as_the_workflow_runs_it(
    given: str,
    configured: str | None,
    ready: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The step's own words and env (tests.delivery.steps), the runner's files here: a schedule's
    empty input with and without monitor.source, and a manual run's source."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["monitor"]["source"] = configured
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    runner = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    argv, env = command("retrain.yml", "monitor", _gate()["run"], {"inputs.source": given}, runner)
    assert env["MONITOR_SOURCE"] == given
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert run_main(monkeypatch, *argv[1:]) == 0
    assert parse_outputs(outputs.read_text()) == {"ready": str(ready).lower()}
    said = summary.read_text() if summary.exists() else ""
    assert ("Set `monitor.source` in params.yaml" in said) is not ready
