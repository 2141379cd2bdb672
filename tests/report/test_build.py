"""The report in-process, with a champion made to differ: warnings, drift, rendering limits.

The champion is injected (no worktree, no DVC run), so this runs in seconds on a copy of
the trained project; the real champion path is covered by test_report_e2e.py.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlapp.errors import UserError
from mlapp.model import load
from mlapp.params import load_params
from mlapp.report import markdown, run
from mlapp.report.champion import Champion
from mlapp.tables import read_frame
from tests.conftest import copy_project, sh
from tests.report.helpers import assert_renders, commit_all, set_param

# Every test here needs the trained project (git history, DVC): end-to-end, so `make test` only.
pytestmark = pytest.mark.slow


@pytest.fixture
def project(trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_project(trained_project, tmp_path / "p")
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="module")
def shifted(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One report, shared: building it is the slow part."""
    root = copy_project(trained_project, tmp_path_factory.mktemp("shifted") / "p")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'no-runs.db'}")
        return build(root)


def shifted_champion(root: Path, commit: str) -> Champion:
    """The same model, but trained (so it says) on other rows: 100 of them in the PR's test set."""
    train, test = (
        read_frame(root / "artifacts/split/train.parquet"),
        read_frame(root / "artifacts/split/test.parquet"),
    )
    base_train = pd.concat([train.iloc[100:], test.iloc[:100]])
    base_train["monthly_charges"] = base_train["monthly_charges"] * 1.6  # a drifted feature
    committed = sh("git", "show", f"{commit}:params.yaml", cwd=root).stdout
    params_text = committed.replace("  seed: 42\n  train:", "  seed: 7\n  train:", 1)
    return Champion(
        commit=commit,
        model=load(root / "models"),
        train=base_train.reset_index(drop=True),
        test=test.iloc[100:].reset_index(drop=True),
        params_text=params_text,
        stages_run=["split", "train"],
        matches_lock=False,
        seconds=1.5,
    )


def build(root: Path, base: str | None = None) -> dict[str, Any]:
    params = load_params("params.yaml")
    report, _ = run.build(params, Path("params.yaml").read_text(), root, base, shifted_champion)
    return report


def test_changed_rows_are_warned_about_and_drift_is_measured(
    shifted: dict[str, Any], trained_project: Path
) -> None:
    report = shifted
    test_rows = len(read_frame(trained_project / "artifacts/split/test.parquet"))
    assert report["lineage"]["base"]["chosen_as"] == "merge base of HEAD and main"  # no origin/main here
    warnings = "\n".join(report["warnings"])
    assert "Params that define the rows changed (`split.seed`)" in warnings
    assert "training rows differ" in warnings
    # The 100 test rows the base trained on are left out (said in a note): the rows compared are
    # all base test rows, so neither a moved test set nor leakage is left to warn about.
    assert report["bootstrap"]["rows"] == test_rows - 100
    assert f"The base model was trained on 100 of these {test_rows:,} test rows" in report["gate"]["notes"][0]
    assert "test set changed" not in warnings and "Leakage" not in warnings
    assert "does not match the model recorded" in warnings
    drift = report["changes"]["drift"]
    assert drift[0]["feature"] == "monthly_charges" and drift[0]["drifted"]
    assert [p["key"] for p in report["changes"]["params"]] == ["split.seed"]
    # Same model on the same rows: no change, so nothing in the gate but its floor, which this
    # model clears.
    assert report["verdict"] == "no significant change"
    assert report["gate"]["passed"] and report["gate"]["reasons"] == []

    text = markdown.render(report, 60_000)
    assert_renders(text)
    assert "> [!WARNING]" in text and "**Training-data drift**" in text and "`monthly_charges`" in text
    assert "rebuilt in a temporary worktree (DVC ran: split, train)" in text


def test_long_reports_shrink_then_truncate_within_the_limit(shifted: dict[str, Any]) -> None:
    report = shifted
    full = markdown.render(report, 60_000)
    compact = markdown.render(report, len(full) - 1)
    assert "```mermaid" in full and "```mermaid" not in compact and len(compact) < len(full)
    assert_renders(compact)
    cut = markdown.render(report, 1500)
    assert len(cut) <= 1500 and cut.endswith(
        "(truncated to fit a GitHub comment; the full report is `report.json` in the artifact)\n"
    )


def test_write_produces_markdown_json_and_pngs(shifted: dict[str, Any], tmp_path: Path) -> None:
    """...and only those: an earlier run's plot goes (a regression report's residuals.png beside
    this binary one), the folder's committed .gitignore stays."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "residuals.png").write_bytes(b"png")
    (tmp_path / "out" / ".gitignore").write_text("*\n!.gitignore\n")
    text = run.write(shifted, tmp_path / "out", 60_000)
    assert (tmp_path / "out" / "report.md").read_text() == text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".gitignore",
        "calibration.png",
        "confusion.png",
        "pr.png",
        "report.json",
        "report.md",
        "roc.png",
    ]


def test_a_pr_cannot_loosen_its_own_gate(project: Path) -> None:
    # The base sets a floor this model does not reach (ROC AUC 0.95); the PR lowers it.
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("min_primary: 0.75", "min_primary: 0.95"))
    commit_all(project, "a floor above the model")
    params.write_text(params.read_text().replace("min_primary: 0.95", "min_primary: 0.1"))
    commit_all(project, "a PR that loosens the gate")
    report = build(project, "HEAD~1")
    gate = report["gate"]
    assert gate["policy"]["min_primary"] == 0.95 and gate["policy_source"] == "base params.yaml"
    assert not gate["passed"] and "below the minimum 0.9500" in gate["reasons"][0]
    assert any("changes `gate:`" in note for note in gate["notes"])


def test_a_base_gate_setting_this_code_refuses_is_named_and_the_report_compares(project: Path) -> None:
    """The base holds a max_regression that can never fire (refused since); the PR mends it. The
    report stopped ("the base's gate: section is invalid" and pydantic's dump): it now compares,
    with the PR's value for that setting and a note in the gate saying why."""
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("max_regression: 0.005", "max_regression: 1.5"))
    commit_all(project, "a tolerance no model can exceed")
    params.write_text(text)
    commit_all(project, "a PR that mends it")
    report = build(project, "HEAD~1")
    gate = report["gate"]
    assert gate["policy"]["max_regression"] == 0.005 and gate["passed"], gate
    assert (
        gate["policy_source"] == "base params.yaml (this PR's max_regression: the base's is no longer valid)"
    )
    assert report["verdict"] == "no significant change"
    rendered = markdown.render(report, 60_000)
    assert_renders(rendered)
    assert (
        "- note: the base's gate.max_regression 1.5 is no longer valid (1.5 is not below the width"
        in rendered
    )


def test_a_binary_label_written_as_text_renders(shifted: dict[str, Any]) -> None:
    """UCI's adult labels "<=50K"/">50K": the confusion table looked its cells up as "0"/"1", and
    `make report` ended in a StopIteration traceback with no report. The classes are the label's."""
    names = {"0": "<=50K", "1": ">50K"}

    def renamed(value: Any, key: str = "") -> Any:
        """The report as a table labelled "<=50K"/">50K" gives it: classes, class keys, cells."""
        if isinstance(value, dict):
            return {names.get(k, k): renamed(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [renamed(v, key) for v in value]
        return names.get(str(value), value) if key in ("actual", "predicted", "classes") else value

    report = renamed(copy.deepcopy(shifted))
    assert report["classes"] == ["<=50K", ">50K"]
    text = markdown.render(report, 60_000)
    assert_renders(text)
    assert "| confusion (at each model's threshold) | base: pred `<=50K` | base: pred `>50K` |" in text
    assert "| actual `>50K` |" in text


def test_a_bound_kept_through_a_task_switch_is_named_where_nothing_is_compared(project: Path) -> None:
    """Models of two tasks are not compared, so the PR switching task gets no gate, and the bound
    it keeps while moving gate.primary_metric (valid in the new metric's range) went unseen until
    every later PR failed on it. The no-comparison reason names it. (The base here is the
    regression side, faked in its spec: the direction does not matter to the check.)"""
    committed = sh("git", "show", "HEAD:params.yaml", cwd=project).stdout
    base_text = committed.replace("primary_metric: roc_auc", "primary_metric: rmse")

    def regression_champion(root: Path, commit: str) -> Champion:
        model = load(root / "models")
        spec = dataclasses.replace(model.spec, task="regression", classes=[], threshold=None)
        rows = read_frame(root / "artifacts/split/train.parquet")
        return Champion(commit, dataclasses.replace(model, spec=spec), rows, rows, base_text, [], True, 0.1)

    params = load_params("params.yaml")
    with pytest.raises(UserError) as caught:
        run.build(params, Path("params.yaml").read_text(), project, "HEAD", regression_champion)
    assert str(caught.value).splitlines() == [
        "the base model is a regression model and the PR's a binary model: a report compares models of one "
        "task (compare the PR with a base of the same task)",
        "note: this PR moves gate.primary_metric from rmse to roc_auc but keeps gate.min_primary 0.7500: for "
        "roc_auc it is a floor in roc_auc's units, and once merged every PR is held to it",
    ]


def test_a_pr_that_lowers_min_class_rows_still_gets_the_few_rows_warning(project: Path) -> None:
    """The base asks 200 rows a class; the PR lowers it to 10 (its model is the same): the PR's
    ~120 positive test rows are judged by the base's 200, and the lowering is said."""
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("min_class_rows: 10 ", "min_class_rows: 200 ", 1))
    commit_all(project, "a base that asks 200 rows a class")
    params.write_text(text)
    commit_all(project, "a PR that lowers it")
    report = build(project, "HEAD~1")
    (few,) = [w for w in report["warnings"] if w.startswith("Few test rows")]
    assert "of class `1` (validate.min_class_rows: 200, the base's; this PR lowers it to 10)" in few
    assert any("lowers validate.min_class_rows from 200 to 10" in n for n in report["gate"]["notes"])
    assert_renders(markdown.render(report, 60_000))


def test_a_pr_that_widens_its_intervals_is_judged_by_the_bases(project: Path) -> None:
    """report.confidence 0.9999 in the PR: a drop the base's 95% interval calls significant became
    "not significant", and gate.require_significant let it pass. The base's applies."""
    set_param(project, "confidence: 0.95", "confidence: 0.9999")
    commit_all(project, "a PR that widens the intervals")
    report = build(project, "HEAD~1")
    assert report["bootstrap"]["confidence"] == 0.95
    assert "This PR changes report.confidence from 95% to 99.99%" in " ".join(report["gate"]["notes"])
    assert "95% CI" in markdown.render(report, 60_000)


def test_an_unstable_primary_metric_is_the_first_note_under_the_verdict(project: Path) -> None:
    """Gated on f1, the base model at another threshold: the f1 interval of the change is wider than
    report.wide_ci_share (0.01 here) of the base's f1, said in the gate's first note, the line under
    the verdict and the gate."""
    set_param(project, "primary_metric: roc_auc", "primary_metric: f1")
    set_param(project, "min_primary: 0.75", "min_primary: 0.3")
    set_param(project, "wide_ci_share: 0.5 ", "wide_ci_share: 0.01 ")
    commit_all(project, "gate on f1")

    def other_threshold(root: Path, commit: str) -> Champion:
        champion = shifted_champion(root, commit)
        spec = dataclasses.replace(champion.model.spec, threshold=0.5)
        return dataclasses.replace(champion, model=dataclasses.replace(champion.model, spec=spec))

    params = load_params("params.yaml")
    report, _ = run.build(params, Path("params.yaml").read_text(), project, "HEAD", other_threshold)
    note = report["gate"]["notes"][0]
    assert note.startswith("f1 is unstable on these rows: its 95% CI of the change spans "), note
    assert "(more than report.wide_ci_share 1%)" in note
    lines = markdown.render(report, 60_000).splitlines()
    gate_line = next(n for n, line in enumerate(lines) if line.startswith("**Gate: "))
    assert lines[gate_line - 2].startswith("**Verdict: ") and lines[gate_line + 1] == f"- note: {note}"
