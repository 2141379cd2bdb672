"""What differs between base and PR: params, data, training-data drift, code, pipeline files.

And, from those facts, the plain-language warnings that change what the comparison means
(different data, a different test set, rows the champion trained on, a rebuilt champion
that does not match its recorded hash).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlapp.labels import label_text
from mlapp.lineage import read_pointer
from mlapp.markdown_table import code_span
from mlapp.metrics import round6
from mlapp.monitor import drift
from mlapp.params import MonitorParams, read_params_text
from mlapp.schema import feature_schema

# Files whose change alters the pipeline or its environment, beyond params and src/.
PIPELINE_FILES = ("dvc.yaml", "dvc.lock", "data.dvc", "uv.lock", "pyproject.toml", ".dvc/config")
# Params that define which rows are trained and tested on (rather than how the model learns).
ROW_PARAMS = ("data.", "validate.", "split.")
BASE_PARAMS = "the base's params.yaml"  # how a refusal names the base's file


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and scalars are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def params_diff(base_text: str | None, pr_text: str) -> list[dict[str, Any]]:
    """Changed, added and removed keys of params.yaml (comments, order and spelling do not count:
    400 -> 4e2 is no change to mlapp or DVC, so none to the report)."""
    base = flatten(read_params_text(base_text or "", BASE_PARAMS) or {})
    pr = flatten(read_params_text(pr_text) or {})
    return [
        {"key": key, "base": base.get(key), "pr": pr.get(key)}
        for key in sorted(base.keys() | pr.keys())
        if key not in base or key not in pr or base[key] != pr[key]
    ]


def params_value(params_text: str | None, *keys: str) -> Any:
    """The value at ``keys`` in a params.yaml's text (the base's: unchecked); None where absent."""
    value: Any = read_params_text(params_text or "", BASE_PARAMS)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def gate_section(params_text: str | None) -> dict[str, Any] | None:
    section = params_value(params_text, "gate")
    return section if isinstance(section, dict) else None


def dvc_md5(dvc_file_text: str | None) -> str | None:
    """The hash a ``.dvc`` file records for its (first) output."""
    pointer = read_pointer(dvc_file_text)
    return pointer.md5 if pointer else None


def table_facts(
    train: pd.DataFrame, test: pd.DataFrame, label: str, task: str, classes: list[str]
) -> dict[str, Any]:
    facts: dict[str, Any] = {"rows_train": len(train), "rows_test": len(test), "columns": len(train.columns)}
    for part, frame in (("train", train), ("test", test)):
        facts[f"label_{part}"], facts[f"class_rows_{part}"] = label_summary(frame, label, task, classes)
    return facts


def label_summary(
    frame: pd.DataFrame, label: str, task: str, classes: list[str]
) -> tuple[float | dict[str, float] | None, dict[str, int] | None]:
    """The label's mean (regression) or each class's share of the rows, and each class's row
    count (None for regression); (None, None) without a label.

    Classes are read as the model reads them (1, 1.0 and "1" are one class), so a text or a
    1/2-coded label gets its real shares rather than the mean of whatever parses as a number.
    The counts say what a share rests on: 50% of 4 rows is not 50% of 4,000.
    """
    if label not in frame or frame.empty:
        return None, None
    if task == "regression":
        return round6(pd.to_numeric(frame[label], errors="coerce").mean()), None
    counts = label_text(frame[label]).value_counts()
    shares = counts / counts.sum()  # what value_counts(normalize=True) gives
    return (
        {name: round6(float(shares.get(name, 0.0))) for name in classes},
        {name: int(counts.get(name, 0)) for name in classes},
    )


@dataclass(frozen=True)
class RowOverlap:
    pr_test_rows: int
    in_base_test: int  # PR test rows that base's test set also held
    in_base_train: int  # PR test rows the champion was trained on

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_keys(frame: pd.DataFrame, id_column: str | None, columns: list[str]) -> pd.Index:
    """Row identity: the id, or (a table without one) a hash of the row's values."""
    if id_column:
        return pd.Index(frame[id_column]) if id_column in frame else pd.Index([])
    if not set(columns) <= set(frame.columns):
        return pd.Index([])
    return pd.Index(pd.util.hash_pandas_object(frame[columns], index=False))


def shared_columns(pr: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    """Columns both tables hold as one type: a retyped column holds other values for the same row."""
    return [c for c in pr.columns if c in base.columns and pr[c].dtype == base[c].dtype]


def same_rows(base: pd.DataFrame, pr: pd.DataFrame) -> bool:
    """The same rows in the same order, compared on the columns both hold as one type: a PR that
    only adds, removes or retypes a feature keeps its rows (its training rows did not change)."""
    columns = shared_columns(pr, base)
    if len(base) != len(pr) or not columns:
        return False
    return base[columns].reset_index(drop=True).equals(pr[columns].reset_index(drop=True))


def row_overlap(
    base_train: pd.DataFrame, base_test: pd.DataFrame, pr_test: pd.DataFrame, id_column: str | None
) -> RowOverlap:
    """Which of ``pr_test``'s rows the base's test and training rows hold: by id, or (no id) by
    the values of the columns both hold as one type (a retyped column's values differ)."""
    columns = shared_columns(pr_test, base_test)
    ids = row_keys(pr_test, id_column, columns)
    return RowOverlap(
        pr_test_rows=len(ids),
        in_base_test=int(ids.isin(row_keys(base_test, id_column, columns)).sum()),
        in_base_train=int(ids.isin(row_keys(base_train, id_column, columns)).sum()),
    )


def training_drift(
    base_train: pd.DataFrame, pr_train: pd.DataFrame, monitor: MonitorParams
) -> list[dict[str, Any]]:
    """Per-feature drift of the PR's training rows against the base's, as `mlapp monitor run` measures it.

    Same bins, PSI and KS rules as monitoring (params ``monitor:``), so "drifted" means the
    same thing in a PR as in production. Largest PSI first.
    """
    rows = []
    for name, levels in drift.feature_levels(feature_schema()).items():
        if name not in base_train or name not in pr_train:
            continue  # an added or removed feature shows up in the schema diff
        result = drift.one_feature(name, levels, base_train[name], pr_train[name], monitor)
        rows.append(asdict(result))
    return sorted(rows, key=lambda r: (-r["psi"], r["feature"]))


def warnings(
    *,
    data_md5: tuple[str | None, str | None],
    changed_params: list[str],
    same_training_rows: bool,
    overlap: RowOverlap,
    on_base_copy: bool,
    changed_files: list[str],
    champion_matches_lock: bool,
    champion_rebuilt: bool,
    pr_pipeline_stale: list[str],
    lock_uncommitted: bool,
) -> list[str]:
    """Facts that change what the comparison means, said plainly; empty when it is like for like."""
    said = []
    if data_md5[0] != data_md5[1]:
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
        said.append(
            f"Data changed (`data.dvc` {_short(data_md5[0])} -> {_short(data_md5[1])}): the PR's model "
            f"learnt from {learnt}. Both models are scored on {scored_on}, so the deltas "
            f"say which model does better on {which}, not whether the training change helped."
        )
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
    if "src/mlapp/schema.py" in changed_files:
        said.append("The schema changed (`src/mlapp/schema.py`): features, ranges or categories may differ.")
    if "uv.lock" in changed_files and champion_rebuilt:
        said.append(
            "Dependencies changed (`uv.lock`) and the champion was rebuilt with the PR's packages: "
            "it may differ from the model the base branch built."
        )
    if not champion_matches_lock:
        said.append(
            "The rebuilt champion does not match the model recorded in the base's `dvc.lock` "
            "(different packages or hardware?): the comparison is against the rebuilt model."
        )
    if pr_pipeline_stale:
        said.append(
            f"The PR's pipeline outputs are stale (`dvc status`: {', '.join(pr_pipeline_stale)}): "
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
    ``said``): the intervals are then too wide for "no significant change" to mean the PR changed
    nothing (a PR that cut the data to 60 rows left one positive test row and passed the gate).
    None otherwise, or regression."""
    counts = np.bincount(y.astype(np.int64), minlength=len(classes)) if classes else np.array([])
    pairs = zip(classes, counts, strict=True)
    if not (short := [f"{n:,} of class {code_span(c)}" for c, n in pairs if n < least]):
        return None
    bound = said or f"validate.min_class_rows: {least}"
    return (
        f"Few test rows: {len(y):,} compared, {', '.join(short)} ({bound}): "
        "the intervals are wide, so the verdict says little either way."
    )


def _short(md5: str | None) -> str:
    return f"`{md5[:8]}`" if md5 else "none"
