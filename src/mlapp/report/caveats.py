"""The plain-language warnings that change what a comparison means, drawn from what differs
between base and PR (``mlapp.report.changes``): different data, a different test set, rows the
champion trained on, a rebuilt champion that does not match its recorded hash, too few test rows."""

from __future__ import annotations

import numpy as np

from mlapp.markdown_table import code_span
from mlapp.report.changes import RowOverlap

# Params that define which rows are trained and tested on (rather than how the model learns).
ROW_PARAMS = ("data.", "validate.", "split.")


def warnings(
    *,
    data_md5: tuple[str | None, str | None],
    changed_params: list[str],
    same_training_rows: bool,
    same_split: bool,
    overlap: RowOverlap,
    on_base_copy: bool,
    changed_files: list[str],
    champion_matches_lock: bool,
    champion_rebuilt: bool,
    pr_pipeline_stale: list[str],
    lock_uncommitted: bool,
) -> list[str]:
    """Facts that change what the comparison means, said plainly; empty when it is like for like.
    In the report's order: what the models learnt from, what they are scored on, what the champion
    is, and whether the PR's pipeline state is committed."""
    return [
        *_data_changed(data_md5, same_training_rows, on_base_copy, same_split),
        *_rows_changed(data_md5, changed_params, same_training_rows, overlap),
        *_champion_differs(changed_files, champion_matches_lock, champion_rebuilt),
        *_pr_state(pr_pipeline_stale, lock_uncommitted),
    ]


def _data_changed(
    data_md5: tuple[str | None, str | None], same_training_rows: bool, on_base_copy: bool, same_split: bool
) -> list[str]:
    if data_md5[0] == data_md5[1]:
        return []
    changed = f"`data.dvc` {_short(data_md5[0])} -> {_short(data_md5[1])}"
    # The file's rows reordered, or written out alike: "learnt from different rows" is untrue.
    if same_split:
        return [
            f"The data file changed ({changed}), but not the rows: the training and test rows are the "
            "base's, alike in every column (the file's rows reordered, or written out anew)."
        ]
    # A base model scored on its copy of the PR's rows is compared on the rows both test sets
    # hold: the PR's new rows have no copy, so the deltas do not speak of them.
    scored_on = (
        "the PR's test rows that the base's test set also holds (the note)"
        if on_base_copy
        else "the PR's test set"
    )
    which = "those rows" if on_base_copy else "the new data"
    # A column added, removed, retyped or ignored keeps every row: "different rows" is untrue.
    learnt = (
        "the base's training rows, alike in the columns both hold (the file differs in others: Data)"
        if same_training_rows
        else "different rows"
    )
    return [
        f"Data changed ({changed}): the PR's model learnt from {learnt}. Both models are scored on "
        f"{scored_on}, so the deltas say which model does better on {which}, not whether the training "
        "change helped."
    ]


def _rows_changed(
    data_md5: tuple[str | None, str | None],
    changed_params: list[str],
    same_training_rows: bool,
    overlap: RowOverlap,
) -> list[str]:
    said = []
    row_params = [key for key in changed_params if key.startswith(ROW_PARAMS)]
    # A changed row param that left every row in its part (data.ignore_columns with an id) is
    # shown in the params table, not claimed to have moved rows.
    rows_moved = not same_training_rows or overlap.in_base_test != overlap.pr_test_rows
    if row_params and rows_moved:
        said.append(
            f"Params that define the rows changed ({', '.join(map(code_span, row_params))}): "
            "training and test rows are not chosen as on the base."
        )
    if data_md5[0] == data_md5[1] and not same_training_rows:
        said.append(
            "Same data, but the training rows differ (split, validation or schema changed): the "
            "comparison mixes the effect of the model change with the effect of the new rows."
        )
    if overlap.in_base_test != overlap.pr_test_rows:
        said.append(
            f"The test set changed: {overlap.pr_test_rows - overlap.in_base_test:,} of the PR's "
            f"{overlap.pr_test_rows:,} test rows were not in the base's test set."
        )
    if overlap.in_base_train:
        share = overlap.in_base_train / max(overlap.pr_test_rows, 1)
        said.append(
            f"Leakage in favour of the base: the base model was trained on {overlap.in_base_train:,} "
            f"({share:.1%}) of the PR's test rows, so its scores on them are optimistic."
        )
    return said


def _champion_differs(changed_files: list[str], matches_lock: bool, rebuilt: bool) -> list[str]:
    said = []
    if "src/mlapp/schema.py" in changed_files:
        said.append("The schema changed (`src/mlapp/schema.py`): features, ranges or categories may differ.")
    if "uv.lock" in changed_files and rebuilt:
        said.append(
            "Dependencies changed (`uv.lock`) and the champion was rebuilt with the PR's packages: "
            "it may differ from the model the base branch built."
        )
    if not matches_lock:
        said.append(
            "The rebuilt champion does not match the model recorded in the base's `dvc.lock` "
            "(different packages or hardware?): the comparison is against the rebuilt model."
        )
    return said


def _pr_state(pipeline_stale: list[str], lock_uncommitted: bool) -> list[str]:
    said = []
    if pipeline_stale:
        said.append(
            f"The PR's pipeline outputs are stale (`dvc status`: {', '.join(pipeline_stale)}): "
            "run `uv run dvc repro`; this report scored the model on disk."
        )
    if lock_uncommitted:
        said.append(
            "`dvc.lock` differs from the committed one: the PR did not commit its reproduced "
            "pipeline state. Run `uv run dvc repro` and commit `dvc.lock` (and metrics) before merging."
        )
    return said


def few_test_rows(y: np.ndarray, classes: list[str], least: int, said: str | None = None) -> str | None:
    """A warning when a class has fewer compared rows than ``least`` (validate.min_class_rows, as
    ``said``; a regression label counts as one class, as where rows are paired): neither "no
    significant change" nor a significant change means much then (a PR that cut the data to 60
    rows left one positive test row and passed the gate; a resample of 2 rows gives a zero-width
    interval, "worse" at [-1, -1]). None otherwise."""
    if classes:
        counts = np.bincount(y.astype(np.int64), minlength=len(classes))
        short = [
            f", {n:,} of class {code_span(c)}" for c, n in zip(classes, counts, strict=True) if n < least
        ]
    else:
        short = [""] if len(y) < least else []
    if not short:
        return None
    bound = said or f"validate.min_class_rows: {least}"
    return (
        f"Few test rows: {len(y):,} compared{''.join(short)} ({bound}): the bootstrap cannot show how "
        "much the metrics vary on so few rows, so the intervals, wide or narrow, and the verdict say "
        "little either way."
    )


def _short(md5: str | None) -> str:
    return f"`{md5[:8]}`" if md5 else "none"
