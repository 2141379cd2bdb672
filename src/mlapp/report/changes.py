"""What differs between base and PR: params, data, training-data drift, code, pipeline files.

The plain-language warnings drawn from those facts are ``mlapp.report.caveats``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from mlapp.labels import label_text
from mlapp.lineage import read_pointer
from mlapp.metrics import round6
from mlapp.monitor import drift
from mlapp.params import MonitorParams, read_params_text
from mlapp.schema import feature_schema

# Files whose change alters the pipeline or its environment, beyond params and src/.
PIPELINE_FILES = ("dvc.yaml", "dvc.lock", "data.dvc", "uv.lock", "pyproject.toml", ".dvc/config")
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


def same_table(base: pd.DataFrame, pr: pd.DataFrame) -> bool:
    """The same columns, each of one type, and the same rows in the same order: the table did not
    change, whatever the data file's hash says (its rows reordered: the split sorts them back)."""
    return list(base.dtypes.items()) == list(pr.dtypes.items()) and same_rows(base, pr)


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
