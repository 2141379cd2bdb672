"""A PR that drops (or retypes) a feature of the data contract still gets a comparison: the base
model, which needs the column as it was, is scored on the base's copy of the PR's test rows.

In-process on the fast reference project: the PR's model is fitted on the changed rows, the
base's (the reference model, which reads it) is injected as the champion with its test split.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlapp.errors import UserError
from mlapp.model import ModelSpec, load, save
from mlapp.params import Params, load_params
from mlapp.report import markdown, run, schema
from mlapp.report.champion import Champion
from mlapp.stages import train
from mlapp.tables import read_frame, write_frame
from tests.conftest import sh
from tests.report.helpers import assert_renders, commit_all

DROPPED = "tenure_months"
BASE_MODEL, BASE_TRAIN, BASE_TEST = "base-model", "base-train.parquet", "base-test.parquet"
RETYPED, LEVELS = "support_tickets_90d", ["few", "many", "none"]


def pr_project(
    reference: Path,
    root: Path,
    rows: Callable[[pd.DataFrame], pd.DataFrame],
    spec: Callable[[ModelSpec], ModelSpec],
) -> Path:
    """The reference project as a PR that changed the data contract: ``rows`` is the change to its
    split, ``spec`` to its model's; the base's model and test split are kept beside them."""
    shutil.copytree(reference, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        params = load_params(Path("params.yaml"))
        shutil.copytree(params.train.model_dir, BASE_MODEL)
        shutil.copy(params.split.train, BASE_TRAIN)
        shutil.copy(params.split.test, BASE_TEST)
        for split in (params.split.train, params.split.test):  # the same rows, as the PR's schema reads them
            write_frame(rows(read_frame(split)), split)
        fit_rows = train.holdout(
            read_frame(params.split.train),
            params.data.label,
            params.train,
            examples=params.validate_.max_failure_examples,
        )
        booster, fitted = train.fit(fit_rows._replace(spec=spec(fit_rows.spec)), params.train)
        save(booster, fitted, params.train.model_dir)
    sh("git", "init", "-q", cwd=root)
    commit_all(root, "a PR that changes the data contract")
    return root


@pytest.fixture(scope="module")
def pr_tree(reference_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PR that removed ``DROPPED``: its test split and model lack it."""
    return pr_project(
        reference_project,
        tmp_path_factory.mktemp("dropped") / "p",
        lambda frame: frame.drop(columns=DROPPED),
        lambda spec: dataclasses.replace(spec, features=[f for f in spec.features if f != DROPPED]),
    )


def as_levels(frame: pd.DataFrame) -> pd.DataFrame:
    tickets = frame[RETYPED]
    return frame.assign(**{RETYPED: np.select([tickets == 0, tickets <= 2], ["none", "few"], "many")})


@pytest.fixture
def pr(pr_tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(pr_tree)
    return pr_tree


def build(
    root: Path, base_test: pd.DataFrame, params: Params | None = None, base_train: pd.DataFrame | None = None
) -> dict[str, Any]:
    def champion(root: Path, commit: str) -> Champion:
        train_rows = read_frame(root / BASE_TRAIN) if base_train is None else base_train
        text = (root / "params.yaml").read_text()
        return Champion(commit, load(root / BASE_MODEL), train_rows, base_test, text, [], True, 0.1)

    params = params or load_params(Path("params.yaml"))
    report, _ = run.build(params, Path("params.yaml").read_text(), root, "HEAD", champion)
    schema.parse(report)
    return report


def test_a_dropped_feature_is_compared_on_the_bases_copy_of_the_rows(pr: Path) -> None:
    """It was "the base model needs features the PR's test set lacks" and no verdict (exit 2)."""
    base_test = read_frame(pr / BASE_TEST).sample(frac=1, random_state=0)  # another order: the id pairs
    rows = len(base_test)
    report = build(pr, base_test)
    assert report["verdict"] in ("better", "no significant change", "worse")
    assert report["bootstrap"]["rows"] == rows
    note = (
        f"The base model was scored on the base's copy of these {rows:,} test rows (paired by "
        f"`customer_id`), because it needs features the PR's test set lacks: {DROPPED}."
    )
    assert report["gate"]["notes"][0] == note
    assert report["models"]["base"]["features"] == report["models"]["pr"]["features"] + 1
    # The same rows, one column fewer: no "training rows differ", no moved test rows.
    assert report["changes"]["data"]["same_training_rows"]
    assert not [w for w in report["warnings"] if "rows differ" in w or "test set changed" in w]
    text = markdown.render(report, 60_000)
    assert_renders(text)
    assert f"- note: {note}" in text
    assert (
        f"\n#### Metrics (the PR's {rows:,} test rows, paired with the base's copies by `customer_id`)\n"
        in text
    )
    assert report["bootstrap"]["paired_by"] == "`customer_id`"


def test_without_an_id_rows_pair_by_their_shared_values(pr: Path) -> None:
    params = load_params(Path("params.yaml"))
    no_id = params.model_copy(update={"data": params.data.model_copy(update={"id_column": None})})
    report = build(pr, read_frame(pr / BASE_TEST), no_id)
    note = report["gate"]["notes"][0]
    assert note.startswith(
        f"The base model was scored on the base's copy of these {report['bootstrap']['rows']:,}"
    )
    assert "(paired by the values of the " in note
    heading = "paired with the base's copies by the values of the "
    assert heading in next(
        x for x in markdown.render(report, 60_000).splitlines() if x.startswith("#### Metrics (")
    )


def test_part_of_the_rows_paired_is_compared_on_and_said(pr: Path) -> None:
    base_test = read_frame(pr / BASE_TEST)
    total, half = len(base_test), len(base_test) // 2
    report = build(pr, base_test.iloc[:half])
    assert report["bootstrap"]["rows"] == half
    assert (
        f"copy of {half:,} of the PR's {total:,} test rows (paired by `customer_id`)"
        in report["gate"]["notes"][0]
    )
    assert (
        f"compared on those {half:,} rows only: {total - half:,} have no single copy"
        in report["gate"]["notes"][0]
    )
    copies = "paired with the base's copies by `customer_id`"
    heading = f"#### Metrics ({half:,} of the PR's {total:,} test rows, {copies})"
    assert heading in markdown.render(report, 60_000).splitlines()


def test_pr_rows_left_unpaired_are_not_warned_about(pr: Path) -> None:
    """The compared rows are the paired ones, all base test rows: PR test rows without a copy
    (here ones the base trained on) are not compared, so they are no leakage (the note counts them)."""
    base_test = read_frame(pr / BASE_TEST)
    half = len(base_test) // 2
    base_train = pd.concat([read_frame(pr / BASE_TRAIN), base_test.iloc[half:]])
    report = build(pr, base_test.iloc[:half], base_train=base_train)
    overlap = {"pr_test_rows": half, "in_base_test": half, "in_base_train": 0}
    assert report["changes"]["data"]["overlap"] == overlap
    assert not [w for w in report["warnings"] if "Leakage" in w or "test set changed" in w]


def test_too_few_paired_rows_is_still_no_comparison_and_says_why(pr: Path) -> None:
    base_test = read_frame(pr / BASE_TEST)
    stayers = base_test[base_test["churned"].astype(str) == "0"]  # no row of the positive class
    with pytest.raises(UserError) as caught:
        build(pr, stayers)
    said = str(caught.value)
    assert said.startswith(f"the base model needs features the PR's test set lacks: {DROPPED}; scoring it on")
    assert f"only {len(stayers):,} of {len(base_test):,} pair" in said
    assert "too few to compare (validate.min_class_rows: 10 a class): 0 of the " in said


def test_a_retyped_feature_is_compared_on_the_bases_copy_without_an_id(
    reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """schema.py turned a count into levels: the base model reads numbers, the PR's rows hold text.
    Without an id the rows pair by the other columns: the retyped one holds other values."""
    root = pr_project(
        reference_project,
        tmp_path / "p",
        as_levels,
        lambda spec: dataclasses.replace(spec, categories={**spec.categories, RETYPED: LEVELS}),
    )
    monkeypatch.chdir(root)
    params = load_params(Path("params.yaml"))
    no_id = params.model_copy(update={"data": params.data.model_copy(update={"id_column": None})})
    base_test = read_frame(root / BASE_TEST)
    report = build(root, base_test, no_id)
    assert report["bootstrap"]["rows"] == len(base_test)
    assert report["gate"]["notes"][0] == (
        f"The base model was scored on the base's copy of these {len(base_test):,} test rows (paired by the "
        f"values of the {len(base_test.columns) - 1} columns both test sets hold), because it cannot score "
        "the PR's test set: a feature's type changed (src/mlapp/schema.py): "
        f"'{RETYPED}' (read as a number, the PR's rows hold text)."
    )
    # Rows are known by the columns both hold as one type, not by the retyped column's new values.
    assert report["changes"]["data"]["overlap"]["in_base_test"] == len(base_test)
    assert report["changes"]["data"]["same_training_rows"]
    assert not [w for w in report["warnings"] if "test set changed" in w or "rows differ" in w]
