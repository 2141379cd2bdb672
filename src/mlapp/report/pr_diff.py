"""What a PR changed against its base (files, params, the data the models learned from) and the
warnings the report gives for it (``mlapp report run``).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import pandas as pd

from mlapp import git
from mlapp.params import Params
from mlapp.report import caveats, changes, rows
from mlapp.report.champion import Champion
from mlapp.report.policy import ClassRows


@dataclasses.dataclass(frozen=True)
class Changes:
    """What the PR changed against the base: files, params and the data the models learned from."""

    files: list[str]
    params: list[dict[str, Any]]
    data_md5: tuple[str | None, str | None]
    same_rows: bool
    same_split: bool  # both parts hold the base's rows, alike in every column
    overlap: changes.RowOverlap


def against(
    root: Path,
    base_commit: str,
    champion: Champion,
    pr_train: pd.DataFrame,
    scored: rows.Scored,
    params: Params,
    params_text: str,
) -> Changes:
    """The files, params and data the PR changed against ``base_commit``, and how its rows
    relate to the base's."""
    files = git.output("diff", "--name-only", base_commit, "--", cwd=root).split()
    # The rows compared: a base model scored on its copy of the PR's rows is compared on the
    # paired rows only, all of them base test rows (the PR's others are said in the note).
    overlap = changes.row_overlap(champion.train, champion.test, scored.rows["pr"], params.data.id_column)
    same_rows = changes.same_rows(champion.train, pr_train)
    same_split = changes.same_table(champion.train, pr_train) and changes.same_table(
        champion.test, scored.rows["pr"]
    )
    data_md5 = (
        changes.dvc_md5(git.show(base_commit, "data.dvc", cwd=root)),
        changes.dvc_md5(_read("data.dvc")),
    )
    params_changed = changes.params_diff(champion.params_text, params_text)
    return Changes(files, params_changed, data_md5, same_rows, same_split, overlap)


def warnings(
    root: Path,
    changed: Changes,
    champion: Champion,
    scored: rows.Scored,
    stale: list[str],
    class_rows: ClassRows,
    classes: list[str],
) -> list[str]:
    """What may make the comparison mean less than it seems: the report's warnings section."""
    said = caveats.warnings(
        data_md5=changed.data_md5,
        changed_params=[p["key"] for p in changed.params],
        same_training_rows=changed.same_rows,
        same_split=changed.same_split,
        overlap=changed.overlap,
        on_base_copy=scored.on_base_copy,
        changed_files=changed.files,
        champion_matches_lock=champion.matches_lock,
        champion_rebuilt=bool(champion.stages_run),
        pr_pipeline_stale=stale,
        lock_uncommitted=not git.ok("diff", "--quiet", "HEAD", "--", "dvc.lock", cwd=root),
    )
    few = caveats.few_test_rows(scored.y, classes, class_rows.least, class_rows.said)
    return said if few is None else [*said, few]


def section(
    changed: Changes,
    champion: Champion,
    pr_train: pd.DataFrame,
    pr_test: pd.DataFrame,
    params: Params,
    task: str,
    classes: list[str],
) -> dict[str, Any]:
    """The report's ``changes``: params, source and pipeline files, both sides' data, and the
    training data's drift when the training rows differ."""
    facts = functools.partial(changes.table_facts, task=task, classes=classes)
    return {
        "params": changed.params,
        "src": sorted(f for f in changed.files if f.startswith("src/")),
        "pipeline_files": sorted(f for f in changed.files if f in changes.PIPELINE_FILES),
        "data": {
            # Each side's own label column: a PR may rename it (``rows.renamed_label``).
            "base": {
                "md5": changed.data_md5[0],
                **facts(champion.train, champion.test, champion.model.spec.label),
            },
            "pr": {"md5": changed.data_md5[1], **facts(pr_train, pr_test, params.data.label)},
            "same_training_rows": changed.same_rows,
            "overlap": changed.overlap.as_dict(),
        },
        "drift": []
        if changed.same_rows
        else changes.training_drift(champion.train, pr_train, params.monitor),
    }


def _read(path: str) -> str | None:
    file = Path(path)
    return file.read_text() if file.is_file() else None
