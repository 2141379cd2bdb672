"""retrain.yml calls the commands the other tests exercise, and wires their outputs correctly."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from tests.conftest import REPO

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
