"""A PR whose pipeline outputs no longer match its params.yaml (no `dvc repro` after the edit), and a
report stopped by anything: the reviewer gets a reason or nothing, never a traceback or an old report.

In-process on the fast reference project, the champion injected.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.model import load
from mlapp.params import load_params
from mlapp.report import champion as champion_module
from mlapp.report import run
from mlapp.report.champion import Champion
from mlapp.tables import read_frame
from tests.conftest import REPO, sh
from tests.report.helpers import commit_all


@pytest.fixture
def tree(reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "p"
    shutil.copytree(reference_project, root)
    sh("git", "init", "-q", cwd=root)
    commit_all(root, "a PR")
    monkeypatch.chdir(root)
    return root


def champion(root: Path, commit: str) -> Champion:
    train, test = (read_frame(root / "artifacts/split" / f"{p}.parquet") for p in ("train", "test"))
    return Champion(commit, load(root / "models"), train, test, "", [], True, 0.1)


def test_a_label_renamed_without_repro_is_a_reason_not_a_traceback(tree: Path) -> None:
    """Was: KeyError 'churn' from pandas (and the earlier run's report.md left as this PR's)."""
    params = load_params(Path("params.yaml"))
    renamed = params.model_copy(update={"data": params.data.model_copy(update={"label": "churn"})})
    with pytest.raises(UserError) as caught:
        run.build(renamed, "", tree, "HEAD", champion)
    assert str(caught.value) == (
        "the PR's model predicts 'churned', params.yaml's data.label is 'churn': "
        "the PR's pipeline outputs are stale: run `uv run dvc repro` and commit"
    )


def test_a_report_stopped_by_a_bug_leaves_no_earlier_report(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tree / "reports" / "pr"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("### Model report: ⚪ no significant change · gate ✅ passed\n")

    def broken(*args: object) -> None:
        raise KeyError("churned")

    monkeypatch.setattr(run, "build", broken)
    with pytest.raises(KeyError):
        run.main(Path("params.yaml"), base="HEAD", out_dir=out, enforce_gate=True, summary=None)
    assert not (out / "report.md").exists()


def test_an_invalid_params_yaml_leaves_no_earlier_report(tree: Path) -> None:
    """Was: params.yaml was read before the earlier report went, so after `make report` stopped on
    the PR's invalid params, reports/pr/ still held the earlier run's report and plots."""
    out = tree / "reports" / "pr"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "report.json", "roc.png"):
        (out / name).write_text("an earlier run's\n")
    params = tree / "params.yaml"
    params.write_text(params.read_text().replace("test_size: 0.2", "test_size: 2.5", 1))
    with pytest.raises(UserError, match="test_size"):
        run.main(params, base="HEAD", out_dir=out, enforce_gate=True, summary=None)
    assert not [name for name in ("report.md", "report.json", "roc.png") if (out / name).exists()]


def status(monkeypatch: pytest.MonkeyPatch, stages: dict[str, object]) -> None:
    done = subprocess.CompletedProcess(["dvc", "status", "--json"], 0, json.dumps(stages), "")
    monkeypatch.setattr(champion_module, "_dvc", lambda cwd, *args, **kw: done)


def test_a_stale_model_is_no_verdict_stale_metrics_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: params changed without `dvc repro`, the report judged the base's model against itself
    ("no significant change", gate passed) with only a warning that the outputs were stale."""
    shutil.copy(REPO / "dvc.lock", tmp_path / "dvc.lock")
    assert champion_module.model_upstream((REPO / "dvc.lock").read_text(), "models") == {
        "validate",
        "split",
        "train",
    }
    status(monkeypatch, {"train": [{"changed deps": {"params.yaml": {"train": "modified"}}}]})
    with pytest.raises(
        UserError, match=r"^the PR's pipeline outputs are stale \(`dvc status`: train\): the model"
    ):
        champion_module.pr_stale_stages(tmp_path, "models")
    status(monkeypatch, {"evaluate": []})  # only the metrics: the model and its rows are the PR's
    assert champion_module.pr_stale_stages(tmp_path, "models") == ["evaluate"]


def test_a_checkout_without_its_data_is_told_to_pull_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone's `make report` said to run `dvc repro`, which stops at "missing data 'source'"."""
    shutil.copy(REPO / "dvc.lock", tmp_path / "dvc.lock")
    missing = {"data.dvc": [{"changed outs": {"data": "not in cache"}}]}
    status(monkeypatch, {**missing, "validate": [{"changed deps": {"data/churn.csv": "deleted"}}]})
    with pytest.raises(UserError, match=r"run `uv run dvc pull` \(data.dvc\), then `uv run dvc repro`"):
        champion_module.pr_stale_stages(tmp_path, "models")
    edited = {"data.dvc": [{"changed outs": {"data": "modified"}}]}  # `dvc add` is the fix, not a pull
    status(monkeypatch, {**edited, "validate": [{"changed deps": {"data/churn.csv": "modified"}}]})
    with pytest.raises(UserError, match=r"; run `uv run dvc repro` and commit$"):
        champion_module.pr_stale_stages(tmp_path, "models")


def test_a_stale_prs_comment_shows_no_metrics_of_an_earlier_model(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its metrics.json is as stale as its model: listed as "the PR's model" they were the base's."""
    out = tree / "reports" / "pr"
    assert (tree / "metrics" / "metrics.json").is_file()

    def stale(*args: object) -> None:
        raise champion_module.StaleOutputs("the PR's pipeline outputs are stale (`dvc status`: train)")

    monkeypatch.setattr(run, "build", stale)
    with pytest.raises(UserError):
        run.main(Path("params.yaml"), base="HEAD", out_dir=out, enforce_gate=True, summary=None)
    text = (out / "report.md").read_text()
    assert "\n    the PR's pipeline outputs are stale (`dvc status`: train)\n" in text
    assert "(`metrics/metrics.json`: stale like the model, not shown)" in text and "| `roc_auc` |" not in text
    assert "Run `uv run dvc repro` and commit: the report then compares." in text
