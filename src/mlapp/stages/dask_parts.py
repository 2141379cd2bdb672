"""How train.engine dask divides the training table: partition lengths (at least one partition per
worker, even) and each partition's fit and validation rows, checked as the local engine's are.

Without ``data.group_column`` each partition is split on its own, with a seed derived from
``train.seed`` and the partition number (stratified by class). With it, the validation rows are
whole groups drawn over the whole table, as the local engine draws them (``split_groups.holdout``),
and each partition keeps its share of both sides: a group's rows on both sides would make early
stopping and the threshold judge entities the fit had seen.
"""

from __future__ import annotations

import math
from itertools import accumulate, pairwise

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlapp.errors import UserError
from mlapp.params import TrainParams
from mlapp.stages.split_checks import check_parts, class_fix
from mlapp.stages.split_groups import holdout as group_holdout


class TooFewRows(UserError, ValueError):
    """A worker would get no validation rows: XGBoost fails on the empty matrix."""


def partition_sizes(rows: int, partitions_at_least: int, partition_rows: int) -> list[int]:
    """Partition lengths: as many as ``partition_rows`` asks (at least one per worker), even.

    Lengths differ by one row at most. Equal slices with a short last one left that tail too
    few rows to hold validation rows out (121 rows on 8 workers: seven of 16, one of 9), and
    XGBoost then failed on its worker's empty validation matrix.
    """
    count = min(rows, max(partitions_at_least, math.ceil(rows / partition_rows)))
    return [rows // count + (number < rows % count) for number in range(count)]


def holds_out(rows: int, valid_size: float) -> bool:
    """Whether a partition of this many rows keeps validation rows (fewer: all of them fit)."""
    return rows >= 2 / valid_size


def check_partitions(sizes: list[int], workers: int, params: TrainParams) -> None:
    """Every worker needs validation rows (partition i trains on worker i mod n): else one line."""
    holds = [any(holds_out(n, params.valid_size) for n in sizes[w::workers]) for w in range(workers)]
    if all(holds):
        return
    need = math.ceil(2 / params.valid_size)  # the least whole number holds_out accepts
    rows = sum(sizes)
    raise TooFewRows(
        f"train.engine dask: {rows:,} training rows in {len(sizes)} partition(s) of at most "
        f"{max(sizes, default=0):,} rows leave {holds.count(False)} of {workers} Dask workers without "
        f"validation rows (a partition needs at least {need}: 2 / train.valid_size); "
        f"{fixes(rows, need, workers, params.dask.partition_rows)}"
    )


def fixes(rows: int, need: int, workers: int, partition_rows: int) -> str:
    """Settings that give every partition ``need`` rows: at most rows // need partitions, so
    that many workers at most and partitions of at least rows / that many rows."""
    most = rows // need
    fixes = []
    if most and workers > most:
        fixes.append(f"train.dask.workers to at most {most} (or use a smaller cluster)")
    if most and partition_rows < math.ceil(rows / most):
        fixes.append(f"train.dask.partition_rows to at least {math.ceil(rows / most)}")
    alternative = "set " + " and ".join(fixes) + ", or use" if fixes else "use"
    return f"{alternative} train.engine: local"


def partition_holdout(
    labels: pd.Series, valid_size: float, seed: int, classes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Fit and validation positions of one partition, from its labels alone, stratified by class
    (``classes``; a regression label is a quantity: repeated values are no classes to balance).
    The draw depends on the row count and labels only: the same as on the partition's rows."""
    at = np.arange(len(labels))
    if not holds_out(len(labels), valid_size):  # too few rows to hold any out: all of them fit
        return at, at[:0]
    counts = labels.value_counts()
    stratify = labels if classes and len(counts) > 1 and counts.min() >= 2 else None
    fit, valid = train_test_split(at, test_size=valid_size, random_state=seed, stratify=stratify)
    return fit, valid


def holdouts(
    labels: pd.Series,
    codes: np.ndarray,
    names: list[str] | None,
    sizes: list[int],
    params: TrainParams,
    groups: pd.Series | None = None,
    workers: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each partition's (fit, validation) table positions, drawn on the client from the labels
    (read whole already: no feature leaves the file for it), and for classes (``names``) checked
    as the local engine's hold-out is: every class in the fit rows and in the validation rows of
    all partitions together. A class of 2 rows in 15-row partitions rounds down to no validation
    row in each, and early stopping and the threshold were judged without it. ``groups``: the
    ``data.group_column`` values, whose groups are held out whole (``grouped``)."""
    bounds = list(pairwise([0, *accumulate(sizes)]))
    if groups is not None:
        held = grouped(groups, codes if names else None, names or [], bounds, workers, params)
    else:
        held = []
        for number, (start, end) in enumerate(bounds):
            fit, valid = partition_holdout(
                labels.iloc[start:end], params.valid_size, params.seed + number, bool(names)
            )
            held.append((start + fit, start + valid))
    if names and held:  # held: none for a table of no rows
        split = f"train.engine dask, train.valid_size {params.valid_size} of {len(sizes)} partition(s)"
        split += "" if groups is None else f" (whole groups of data.group_column {groups.name!r})"
        from mlapp.stages.train import HOLDOUT_COST

        fewer = "use fewer partitions (train.dask.partition_rows)"
        fix = f"{HOLDOUT_COST}: {class_fix('raise train.valid_size', fewer)}"
        fit_at, valid_at = (np.concatenate(side) for side in zip(*held, strict=True))
        parts = {"fit": fit_at, "validation": valid_at}
        check_parts(codes, names, parts, split, fix)
    return held


def grouped(
    groups: pd.Series,
    codes: np.ndarray | None,
    names: list[str],
    bounds: list[tuple[int, int]],
    workers: int,
    params: TrainParams,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each partition's rows of the local engine's group hold-out (whole groups drawn over the table,
    not per partition: the table is in id order, so a group's rows fall in several partitions). Every
    worker (partition i trains on worker i mod n) needs rows on both sides: XGBoost fails on an empty
    matrix with a message about neither groups nor rows."""
    column = str(groups.name)
    _, valid = group_holdout(groups, codes, names, params.valid_size, params.seed, column)
    held_out = np.zeros(len(groups), dtype=bool)
    held_out[valid] = True
    held = [(np.arange(a, b)[~held_out[a:b]], np.arange(a, b)[held_out[a:b]]) for a, b in bounds]
    for side, name in ((0, "fit"), (1, "validation")):
        if lacking := sum(not any(len(part[side]) for part in held[w::workers]) for w in range(workers)):
            raise TooFewRows(
                f"train.engine dask: whole groups of data.group_column {column!r} held out by "
                f"train.valid_size {params.valid_size} leave {lacking} of {workers} Dask workers without "
                f"{name} rows; use fewer workers or larger partitions (train.dask.workers, "
                "train.dask.partition_rows), or train.engine: local"
            )
    return held
