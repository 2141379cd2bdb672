"""The retraining PR path, locally: data refresh, branch, commit, push to a bare origin, `gh` calls.

Everything the workflow does up to the PR-opening command runs here for real (git, DVC);
`gh` is a stub on PATH that records its arguments.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import mlapp.git
from mlapp.gha import parse_outputs
from mlapp.monitor import retrain, run
from mlapp.monitor.refresh import refresh
from mlapp.monitor.rows import MonitorError
from mlapp.params import load_params
from tests.conftest import copy_project, run_main, sh
from tests.delivery.steps import make_recipe
from tests.monitor.helpers import drifted, fresh, write_csv

GH_STUB = """#!/bin/sh
echo "$@" >> "$GH_STUB_LOG"
if [ "$1 $2" = "pr list" ]; then cat "$GH_STUB_LIST"; fi
if [ "$1 $2" = "pr create" ]; then echo "https://github.com/acme/churn/pull/12"; fi
"""


def _git(*args: str, cwd: Path) -> str:
    return sh("git", *args, cwd=cwd).stdout.strip()


def _rows(path: Path) -> int:
    return len(pd.read_csv(path))


def _with_params(root: Path, **retrain_params: str) -> None:
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["monitor"]["retrain"].update(retrain_params)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    sh("git", "commit", "-qam", "params", cwd=root)


@pytest.fixture
def origin(project: Path, tmp_path: Path) -> Path:
    """A bare repository standing in for GitHub, holding main."""
    bare = tmp_path / "origin.git"
    sh("git", "init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    sh("git", "remote", "add", "origin", bare, cwd=project)
    sh("git", "push", "-q", "origin", "main", cwd=project)
    return bare


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH_STUB)
    (bin_dir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    (tmp_path / "gh-list.json").write_text("[]")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GH_STUB_LOG", str(log))
    monkeypatch.setenv("GH_STUB_LIST", str(tmp_path / "gh-list.json"))
    return log


@pytest.mark.slow
def test_append_adds_labeled_rows_and_moves_the_pointer(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_text = (project / "data" / "churn.csv").read_text()
    before_pointer = (project / "data.dvc").read_text()
    source = write_csv(fresh(201, rows=300), tmp_path / "batch.csv", labels=True)
    assert refresh(load_params(), str(source)) == Path("data.dvc")
    after_text = (project / "data" / "churn.csv").read_text()
    assert after_text.startswith(before_text)  # old rows byte-identical, new rows after them
    assert _rows(project / "data" / "churn.csv") == 3300
    assert (project / "data.dvc").read_text() != before_pointer
    outputs = ["--output", str(tmp_path / "v.parquet"), "--report", str(tmp_path / "v.json")]
    assert run_main(monkeypatch, "pipeline", "validate", *outputs) == 0  # in this process


def test_the_make_recent_batch_is_new_customers_and_append_adds_them(project: Path) -> None:
    """Reusing the sample's ids, the batch replaced those rows instead of adding any, and a
    retraining PR's report then took the new rows for the base's training rows (leakage)."""
    (recipe,) = make_recipe("recent")  # `mlapp pipeline generate ... --out recent.csv`
    sh(*recipe, cwd=project)
    before = pd.read_csv(project / "data" / "churn.csv")
    recent = pd.read_csv(project / "recent.csv")
    assert not recent["customer_id"].isin(before["customer_id"]).any()
    refresh(load_params(), "recent.csv")
    assert _rows(project / "data" / "churn.csv") == len(before) + len(recent)


def test_append_keeps_the_tables_classes_for_a_partly_labeled_csv(project: Path, tmp_path: Path) -> None:
    """pandas writes a label column with blanks as 0.0/1.0; the table says 0/1: still two classes."""
    batch = fresh(208, rows=300)
    batch["churned"] = batch["churned"].astype("float64")
    batch.loc[::3, "churned"] = float("nan")
    source = write_csv(batch, tmp_path / "late.csv", labels=True)
    assert "1.0" in source.read_text()
    refresh(load_params(), str(source))
    labels = pd.read_csv(project / "data" / "churn.csv", dtype=str)["churned"]
    assert len(labels) == 3200 and set(labels) == {"0", "1"}


def test_replace_makes_the_batch_the_table(project: Path, tmp_path: Path) -> None:
    _with_params(project, refresh="replace")
    source = write_csv(fresh(202, rows=400), tmp_path / "snapshot.csv", labels=True)
    refresh(load_params(), str(source))
    table = pd.read_csv(project / "data" / "churn.csv")
    assert len(table) == 400 and table["customer_id"].str.startswith("N202-").all()


def test_import_mode_runs_dvc_update(project: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream" / "churn.csv"
    upstream.parent.mkdir()
    upstream.write_text((project / "data" / "churn.csv").read_text())
    sh("dvc", "remove", "-q", "data.dvc", cwd=project)
    sh("rm", "-rf", "data", cwd=project)
    (project / "data").mkdir()
    sh("dvc", "import-url", "-q", upstream, "data/churn.csv", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "add", "-f", "data/churn.csv.dvc", cwd=project)  # the template ignores /data
    sh("git", "commit", "-qm", "data is an import", cwd=project)
    _with_params(project, refresh="import")
    write_csv(fresh(203, rows=300), upstream, labels=True)  # upstream publishes a new snapshot
    tracking = refresh(load_params(), "")
    assert tracking == Path("data/churn.csv.dvc")
    assert "data/churn.csv.dvc" in _git("status", "--porcelain", cwd=project)
    assert _rows(project / "data" / "churn.csv") == 300


def test_batches_that_cannot_be_training_data_are_refused(project: Path, tmp_path: Path) -> None:
    cases = {
        "churned": "has no 'churned' column: retraining needs labeled rows",
        "customer_id": "the table failed required column is present",
    }
    for drop, match in cases.items():
        source = tmp_path / f"without-{drop}.csv"
        fresh(204, rows=300).drop(columns=[drop]).to_csv(source, index=False)
        with pytest.raises(MonitorError, match=match):
            refresh(load_params(), str(source))
    assert _git("status", "--porcelain", cwd=project) == ""  # nothing written


@pytest.mark.slow
def test_prepare_publish_open_pr(project: Path, origin: Path, gh: Path, tmp_path: Path) -> None:
    """The workflow's steps after `monitor`, minus retraining (the slow test below retrains)."""
    params = load_params()
    main_head = _git("rev-parse", "main", cwd=project)
    outputs = tmp_path / "github_output"
    source = write_csv(drifted(205, rows=300), tmp_path / "batch.csv", labels=True)

    assert retrain.prepare(params, str(source), reproduce=False, github_output=outputs)
    assert parse_outputs(outputs.read_text()) == {"changed": "true"}
    assert _git("branch", "--show-current", cwd=project) == "ct/retrain"
    assert _git("rev-parse", "main", cwd=project) == main_head  # main untouched
    assert _git("rev-parse", "HEAD~1", cwd=project) == main_head  # one commit on top of main
    changed = _git("diff", "--name-only", "main", "HEAD", cwd=project).splitlines()
    assert "data.dvc" in changed
    # The bundled remote lives in the repository, so the new data travels with the commit.
    assert any(p.startswith(".dvc/sample-remote/files/md5/") for p in changed)
    assert _git("status", "--porcelain", cwd=project) == ""

    assert retrain.publish(params)
    assert _git("rev-parse", "ct/retrain", cwd=origin) == _git("rev-parse", "HEAD", cwd=project)
    assert _git("rev-parse", "main", cwd=origin) == main_head  # never a push to main

    body = tmp_path / "monitor.md"
    body.write_text("## Drift and decay report: RETRAIN recommended\n")
    assert retrain.open_pr(params, body) == "https://github.com/acme/churn/pull/12"
    calls = gh.read_text().splitlines()
    assert calls[0].startswith("pr list --head ct/retrain --base main --state open")
    assert calls[1].startswith("pr create --head ct/retrain --base main --title Retrain on fresh data")
    assert "RETRAIN recommended" in (tmp_path / "pr-body.md").read_text()

    # Next scheduled run: the same data again -> same files, no push; the open PR is edited.
    sh("git", "switch", "-q", "main", cwd=project)
    assert retrain.prepare(params, str(source), reproduce=False)
    assert not retrain.publish(params)
    (tmp_path / "gh-list.json").write_text(json.dumps([{"number": 12, "url": "https://x/pull/12"}]))
    assert retrain.open_pr(params, body) == "12"
    assert gh.read_text().splitlines()[-1].startswith("pr edit 12 --title Retrain on fresh data")


@pytest.mark.slow
def test_publish_hands_the_token_to_git_for_its_calls_only(
    project: Path, origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """retrain.yml checks out without credentials (the pipeline runs without a token that could
    push any branch); the push step's GH_TOKEN goes to git as a header, never into .git/config."""
    source = write_csv(drifted(205, rows=300), tmp_path / "batch.csv", labels=True)
    assert retrain.prepare(load_params(), str(source), reproduce=False)
    monkeypatch.setenv("GITHUB_SERVER_URL", str(origin.parent))  # the bare origin stands in for GitHub
    monkeypatch.setenv("GH_TOKEN", "s3cret")
    calls: list[tuple[str, Mapping[str, str]]] = []
    real = mlapp.git.run

    def recording(*args: str | Path, env: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        calls.append((str(args[0]), env or {}))
        return real(*args, env=env, **kwargs)

    monkeypatch.setattr(mlapp.git, "run", recording)
    assert retrain.publish(load_params())
    header = "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:s3cret").decode()
    remote = {name: env.get("GIT_CONFIG_VALUE_0") for name, env in calls if name in ("ls-remote", "push")}
    assert remote == {"ls-remote": header, "push": header}
    assert all(
        "GIT_CONFIG_VALUE_0" not in env for name, env in calls if name not in ("ls-remote", "fetch", "push")
    )
    assert "s3cret" not in (project / ".git" / "config").read_text()
    assert _git("rev-parse", "ct/retrain", cwd=origin) == _git("rev-parse", "HEAD", cwd=project)


@pytest.mark.slow
def test_commit_message_gives_the_reasons_of_this_batch_only(
    project: Path, reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reasons come from the last monitor report, and only when it checked the same source."""
    checked = write_csv(drifted(207, rows=600), tmp_path / "checked.csv", labels=True)
    other = tmp_path / "other.csv"
    other.write_bytes(checked.read_bytes())
    monkeypatch.chdir(reference_project)  # a trained project to compare with (read-only)
    reference = load_params()
    report = project / reference.monitor.report_json
    run.main(reference, source=str(checked), json_path=report, markdown_path=tmp_path / "monitor.md",
             model_dir=reference.train.model_dir, exit_zero=True)  # fmt: skip
    reasons = json.loads(report.read_text())["reasons"]
    assert reasons and "severe drift" in reasons[0] and any("2 of 17 features drifted" in r for r in reasons)
    monkeypatch.chdir(project)

    assert retrain.prepare(load_params(), str(other), reproduce=False)
    assert "drifted" not in _git("log", "-1", "--format=%B", cwd=project)  # that report is about another file
    sh("git", "switch", "-q", "main", cwd=project)
    assert retrain.prepare(load_params(), str(checked), reproduce=False)
    assert f"- {reasons[0]}" in _git("log", "-1", "--format=%B", cwd=project).splitlines()


def test_prepare_with_nothing_new_commits_nothing(project: Path, tmp_path: Path) -> None:
    outputs = tmp_path / "github_output"
    known = pd.read_csv(project / "data" / "churn.csv", dtype=str).head(250)
    known.to_csv(tmp_path / "known.csv", index=False)
    assert not retrain.prepare(
        load_params(), str(tmp_path / "known.csv"), reproduce=False, github_output=outputs
    )
    assert parse_outputs(outputs.read_text()) == {"changed": "false"}
    assert _git("rev-parse", "HEAD", cwd=project) == _git("rev-parse", "main", cwd=project)


def test_guards(project: Path, tmp_path: Path) -> None:
    """Dirty tree, publishing from the wrong branch, import mode without an import, branch == base."""
    (project / "README.md").write_text("local edit\n")
    with pytest.raises(MonitorError, match="uncommitted changes"):
        retrain.prepare(load_params(), "unused.csv", reproduce=False)
    sh("git", "checkout", "-q", "README.md", cwd=project)
    with pytest.raises(MonitorError, match="not on ct/retrain"):
        retrain.publish(load_params())
    _with_params(project, refresh="import")
    with pytest.raises(MonitorError, match="is not a `dvc import-url`"):
        refresh(load_params(), "")
    _with_params(project, branch="main")
    with pytest.raises(MonitorError, match="must differ from the base"):
        retrain.publish(load_params())


@pytest.mark.slow
def test_drifted_batch_opens_the_retraining_pr_path(
    trained_project: Path, tmp_path: Path, gh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole workflow through the CLI: monitor says retrain -> branch, retrain, commit, push, PR."""
    root = copy_project(trained_project, tmp_path / "project")
    bare = tmp_path / "origin.git"
    sh("git", "init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    sh("git", "remote", "add", "origin", bare, cwd=root)
    sh("git", "push", "-q", "origin", "main", cwd=root)
    env = {
        "MONITOR_SOURCE": str(write_csv(drifted(206, rows=600), tmp_path / "batch.csv", labels=True)),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"

    # retrain.yml's monitor step, same arguments ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY: files here)
    sh("mlapp", "monitor", "run", "--exit-zero", "--github-output", outputs, "--summary", summary,
       cwd=root, env=env)  # fmt: skip
    assert parse_outputs(outputs.read_text())["retrain"] == "true"
    assert summary.read_text() == (root / "reports/monitor/monitor.md").read_text()
    sh("mlapp", "monitor", "retrain-prepare", "--github-output", outputs, cwd=root, env=env)
    assert parse_outputs(outputs.read_text()) == {"retrain": "true", "status": "retrain", "changed": "true"}
    changed = _git("diff", "--name-only", "main", "HEAD", cwd=root).splitlines()
    assert {"data.dvc", "dvc.lock", "metrics/metrics.json", "reports/validation.json"} <= set(changed)
    message = _git("log", "-1", "--format=%B", cwd=root)
    assert "features drifted" in message and "`monthly_charges`, `contract`" in message
    assert "changed" not in sh("dvc", "status", cwd=root).stdout  # outputs match the new data
    assert json.loads(_git("show", "HEAD:reports/validation.json", cwd=root))["rows"] == 3600

    sh("mlapp", "monitor", "retrain-publish", cwd=root)
    assert _git("rev-parse", "ct/retrain", cwd=bare) == _git("rev-parse", "HEAD", cwd=root)
    result = sh("mlapp", "monitor", "retrain-pr", cwd=root)
    assert "opened pull request https://github.com/acme/churn/pull/12" in result.stdout
    assert "features drifted" in (root / "reports" / "monitor" / "pr-body.md").read_text()


def test_append_to_a_table_with_an_ignored_column(project: Path, tmp_path: Path) -> None:
    """A column of data.ignore_columns is left out by validate: appended rows have it blank
    (it was a KeyError), old rows keep their text."""
    raw = project / "data" / "churn.csv"
    table = pd.read_csv(raw, dtype=str, keep_default_na=False)
    table.insert(1, "note", "called, twice")
    table.to_csv(raw, index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["ignore_columns"] = ["note"]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refresh(load_params(), str(write_csv(fresh(201, rows=300), tmp_path / "batch.csv", labels=True)))
    after = pd.read_csv(raw, dtype=str, keep_default_na=False)
    assert list(after.columns) == list(table.columns) and len(after) == len(table) + 300
    assert after["note"].tolist() == ["called, twice"] * len(table) + [""] * 300
