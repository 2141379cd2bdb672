"""A multiclass project whose class names are markup, end to end: the real `mlapp report run` on a
PR that worsens the model, its Markdown parsed as GitHub would, its plots drawn.

test_hostile_names.py checks each renderer on such names; this runs them through validate,
split, train, a rebuilt champion and the whole report, where a name reaches every section.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from tests.conftest import copy_project, sh
from tests.report.helpers import HOSTILE_NAMES as NAMES
from tests.report.helpers import assert_renders, commit_all, report_files, set_param

pytestmark = pytest.mark.slow

MULTICLASS = [
    ("task: binary", "task: multiclass"),
    ("primary_metric: roc_auc", "primary_metric: f1_macro"),
    ("  metric: roc_auc", "  metric: log_loss"),  # tune.metric
    ("    roc_auc: 0.05\n    pr_auc: 0.05\n", "    f1_macro: 0.05\n"),  # monitor.decay_tolerance
    ("min_primary: 0.75", "min_primary: 0.1"),
    # Eight classes grow eight trees a round: 400 rounds (early stopping ended at 329, 2,632 trees)
    # made the base's training the bulk of its `dvc repro`; 40 (320 trees) still learn the bands
    # (f1_macro 0.85 vs the PR's 0.36).
    ("n_estimators: 400", "n_estimators: 40"),
]


def hostile_base(trained: Path, dest: Path, env: dict[str, str]) -> Path:
    """The trained project with its label replaced by eight hostile classes (learnable: bands of
    two features), committed on main after `dvc repro`."""
    root = copy_project(trained, dest)
    csv = root / "data" / "churn.csv"
    frame = pd.read_csv(csv)
    value = frame["monthly_charges"].rank(pct=True) + frame["tenure_months"].rank(pct=True)
    frame.assign(churned=pd.qcut(value, len(NAMES), labels=NAMES).astype(str)).to_csv(csv, index=False)
    for old, new in MULTICLASS:
        set_param(root, old, new)
    sh("dvc", "add", "-q", "data", cwd=root)
    sh("dvc", "repro", "-q", cwd=root, env=env)
    commit_all(root, "multiclass with hostile class names")
    return root


def test_hostile_class_names_render_as_text_through_the_whole_report(
    trained_project: Path, tmp_path: Path
) -> None:
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    root = hostile_base(trained_project, tmp_path / "p", env)
    sh("git", "checkout", "-q", "-b", "shallower", cwd=root)
    set_param(root, "max_depth: 5", "max_depth: 1")
    set_param(root, "n_estimators: 40", "n_estimators: 3")
    sh("dvc", "repro", "-q", cwd=root, env=env)
    commit_all(root, "a shallower model")

    done = sh("mlapp", "report", "run", "--no-gate", "--base", "main", cwd=root, env=env)
    report, text = report_files(root)
    assert sorted(report["classes"]) == sorted(NAMES)
    assert report["verdict"] == "worse" and "verdict: worse" in done.stdout  # the metrics moved
    assert (root / "reports" / "pr" / "confusion.png").stat().st_size > 0
    assert "Glyph" not in done.stderr  # a tab in a tick label: matplotlib drew a box and said so

    assert_renders(text)  # every table keeps its column count, fences and details balanced
    tokens = [
        child
        for token in MarkdownIt("commonmark").enable("table").parse(text)
        for child in [token, *(token.children or [])]
    ]
    spans = [t.content for t in tokens if t.type == "code_inline"]
    for name in NAMES:
        shown = name.replace("\n", " ")  # a code span is one line
        # One code span for the name itself (class shares, confusion headers) and one per metric.
        assert spans.count(shown) >= 3, (name, [s for s in spans if shown in s])
        assert f"per_class.{shown}.recall" in spans and f"per_class.{shown}.precision" in spans
    ours = ("<sub>", "</sub>", "<!-- run-specific:")  # the report's own HTML around notes and timings
    markup = {"html_inline", "html_block", "link_open", "image"}
    assert not [t for t in tokens if t.type in markup and not t.content.startswith(ours)]
    prose = " ".join(t.content for t in tokens if t.type == "text")
    for fragment in ("@org", "<script", "alpha", "tick", "a|b", "xxxxx"):
        assert fragment not in prose, (fragment, prose)
