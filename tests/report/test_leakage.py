"""Rows the base model was trained on are not compared: its scores on them are optimistic, and a PR
that only changes the split (``split.seed``, ``split.test_size``) was reported worse and blocked.

In-process on the fast reference project: the same model on both sides, the champion said to have
been trained on some of the PR's test rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.errors import UserError
from mlapp.model import load
from mlapp.params import load_params
from mlapp.report import markdown, rows, run, schema
from mlapp.report.champion import Champion
from mlapp.tables import read_frame
from tests.conftest import sh
from tests.report.helpers import assert_renders, commit_all

TRAIN, TEST = "artifacts/split/train.parquet", "artifacts/split/test.parquet"


@pytest.fixture(scope="module")
def tree(reference_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("leakage") / "p"
    shutil.copytree(reference_project, root)
    sh("git", "init", "-q", cwd=root)
    commit_all(root, "a PR whose split moved rows")
    return root


def build(root: Path, base_train: pd.DataFrame) -> dict[str, Any]:
    def champion(root: Path, commit: str) -> Champion:
        text = (root / "params.yaml").read_text()
        return Champion(
            commit, load(root / "models"), base_train, read_frame(root / TEST), text, [], True, 0.1
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        report, _ = run.build(
            load_params(Path("params.yaml")), Path("params.yaml").read_text(), root, "HEAD", champion
        )
    schema.parse(report)
    return report


def test_rows_the_base_trained_on_are_left_out_and_said(tree: Path) -> None:
    """Before: both models scored on every PR test row, the base on 100 of its own training rows."""
    test = read_frame(tree / TEST)
    total, seen = len(test), 100
    report = build(tree, pd.concat([read_frame(tree / TRAIN), test.iloc[:seen]]))
    assert report["bootstrap"]["rows"] == total - seen
    assert report["bootstrap"]["identical_predictions"]  # the same model: no change on any row
    note = (
        f"The base model was trained on {seen:,} of these {total:,} test rows (the split or the data "
        f"changed): both models are compared on the other {total - seen:,} only, as scores on its own "
        "training rows would flatter the base."
    )
    assert note in report["gate"]["notes"]
    # The compared rows hold none of the base's training rows: no leakage left to warn about.
    assert report["changes"]["data"]["overlap"]["in_base_train"] == 0
    assert not [w for w in report["warnings"] if "Leakage" in w]
    text = markdown.render(report, 60_000)
    assert_renders(text)
    unseen = f"{total - seen:,} of the PR's {total:,} test rows: those the base model was not trained on"
    heading = f"#### Metrics ({unseen})"
    assert heading in text.splitlines()


def test_too_few_unseen_rows_is_no_comparison_and_says_why(tree: Path) -> None:
    test = read_frame(tree / TEST)
    positives = test[test["churned"].astype(str) == "1"]
    with pytest.raises(
        UserError, match=r"^the base model was trained on [\d,]+ of the [\d,]+ test rows, and the"
    ):
        build(tree, pd.concat([read_frame(tree / TRAIN), positives]))


def test_rows_are_known_by_their_values_without_an_id() -> None:
    base_train = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]})
    pr_rows = pd.DataFrame({"x": [3, 4, 1], "y": ["a", "a", "b"]})
    assert rows.trained_on(base_train, pr_rows, None).tolist() == [True, False, False]
    assert rows.trained_on(base_train.assign(id=[7, 8, 9]), pr_rows.assign(id=[9, 8, 1]), "id").tolist() == [
        True,
        True,
        False,
    ]
    assert not rows.trained_on(pd.DataFrame({"z": [1]}), pr_rows, None).any()  # nothing to know them by
    assert isinstance(rows.trained_on(base_train, pr_rows, None), np.ndarray)
