"""The PR command end to end, as pr.yml runs it, in a fresh clone with no model anywhere.

The clone has only the raw data on the bundled remote (like a fork PR without credentials),
so the champion is always rebuilt from the base commit in a worktree the first time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import sh
from tests.report.helpers import (
    assert_renders,
    ci_checkout,
    origin_repo,
    pr_branch,
    report_files,
    set_param,
    without_run_block,
)

pytestmark = pytest.mark.slow

# The exact commands of .github/workflows/pr.yml (without `uv run --frozen`).
REPORT = ("mlapp", "report", "run", "--no-gate", "--base")
GATE = ("mlapp", "report", "gate")
PNGS = ("roc.png", "pr.png", "calibration.png", "confusion.png")


def worse_model(root: Path) -> None:
    set_param(root, "max_depth: 5", "max_depth: 1")
    set_param(root, "n_estimators: 400", "n_estimators: 1")


def comment_only(root: Path) -> None:
    train = root / "src" / "mlapp" / "stages" / "train.py"
    train.write_text(train.read_text() + "\n# A comment: the model must not change.\n")


def test_worse_model_is_reported_worse_and_blocked(trained_project: Path, tmp_path: Path) -> None:
    origin = origin_repo(trained_project, tmp_path / "origin")
    pr_branch(origin, "worse", worse_model)
    clone, base, env = ci_checkout(origin, tmp_path / "ci", "worse")

    summary = tmp_path / "step-summary.md"
    built = sh(*REPORT, base, cwd=clone, env={**env, "GITHUB_STEP_SUMMARY": str(summary)})
    report, markdown = report_files(clone)
    for png in PNGS:
        assert (clone / "reports" / "pr" / png).stat().st_size > 0
    assert summary.read_text().strip() == markdown.strip()

    assert report["verdict"] == "worse"
    assert "verdict: worse" in built.stdout
    metrics = {m["name"]: m for m in report["metrics"]}
    assert metrics["roc_auc"]["delta"] < 0 and metrics["pr_auc"]["delta"] < 0
    assert metrics["log_loss"]["delta"] > 0 and metrics["brier"]["delta"] > 0
    assert metrics["roc_auc"]["ci_high"] < 0  # significantly worse
    for m in metrics.values():
        assert m["ci_low"] <= m["delta"] <= m["ci_high"], m
        assert m["delta"] == pytest.approx(m["pr"] - m["base"], abs=2e-6)

    assert not report["gate"]["passed"]
    assert any("roc_auc dropped by" in r for r in report["gate"]["reasons"])
    assert report["gate"]["policy_source"] == "base params.yaml"
    assert report["warnings"] == []  # same data, same split: like for like, nothing to warn about
    assert report["run"]["champion"]["how"].startswith("rebuilt")
    changed = {p["key"]: (p["base"], p["pr"]) for p in report["changes"]["params"]}
    assert changed == {"train.xgboost.max_depth": (5, 1), "train.xgboost.n_estimators": (400, 1)}
    assert report["changes"]["data"]["same_training_rows"]

    assert markdown.startswith("### Model report: 🔴 worse than base · gate ❌ FAILED")
    assert "`train.xgboost.max_depth` | `5` | `1`" in markdown
    assert_renders(markdown)

    gate = sh(*GATE, cwd=clone, check=False, env=env)
    assert gate.returncode == 1
    assert "quality gate FAILED" in gate.stderr and "roc_auc dropped by" in gate.stderr
    # The local command writes the same report and fails because of the gate.
    make = sh("make", "report", f"BASE={base}", "RUN=", cwd=clone, check=False, env=env)
    assert make.returncode != 0
    assert "quality gate FAILED" in make.stderr
    assert report_files(clone)[0]["verdict"] == "worse"


def test_comment_only_change_is_neutral_passes_and_is_deterministic(
    trained_project: Path, tmp_path: Path
) -> None:
    origin = origin_repo(trained_project, tmp_path / "origin")
    pr_branch(origin, "neutral", comment_only)
    clone, base, env = ci_checkout(origin, tmp_path / "ci", "neutral")

    sh(*REPORT, base, cwd=clone, env=env)
    first, first_md = report_files(clone)
    assert first["verdict"] == "no significant change"
    assert first["bootstrap"]["identical_predictions"]
    for m in first["metrics"]:
        assert m["delta"] == 0 and m["ci_low"] == 0 and m["ci_high"] == 0, m
    assert first["gate"]["passed"] and first["gate"]["reasons"] == []
    assert first["changes"]["src"] == ["src/mlapp/stages/train.py"]
    assert first["changes"]["params"] == []
    assert first["warnings"] == []
    assert first_md.startswith("### Model report: ⚪ same predictions as base · gate ✅ passed")
    assert_renders(first_md)
    assert sh(*GATE, cwd=clone, env=env).returncode == 0
    # The PR's `dvc repro` built the very same model bytes, so DVC restores the champion.
    assert first["run"]["champion"]["how"] == "restored from the DVC cache/remote"

    sh(*REPORT, base, cwd=clone, env=env)
    second, second_md = report_files(clone)
    assert without_run_block(second_md) == without_run_block(first_md)
    assert {k: v for k, v in second.items() if k != "run"} == {k: v for k, v in first.items() if k != "run"}
