"""Methods stratified and time with ``data.group_column``: every row of a group in one part.

A panel (a customer's months, a patient's visits) split by rows puts one entity's rows in both
parts, and test scores entities the model trained on. ``stratified`` then holds out one fold of
scikit-learn's ``StratifiedGroupKFold`` (seeded by ``split.seed``), as many folds as bring one
fold nearest ``split.test_size``, and of those folds the one whose rows come nearest (of the folds
leaving every class in both parts, when one does); a regression label has no classes, so
``GroupShuffleSplit`` holds out ``test_size`` of the groups. Either way
the share of rows in test is near ``test_size``, not equal to it: the stage prints it.

``time`` puts a group in the part of its last event: the groups whose last events are latest go to
test until it holds about ``test_size`` of the rows. No training row is later than any test
group's last event, and test is the latest groups, but a test group's earlier rows may precede
training rows (the stage counts them): refusing a group that spans the cut instead would refuse
nearly every panel, where most entities have rows on both sides of any date.

Groups are known by the hash of their key (``split.row_hashes``) and ordered by it, never by the
file's row order: the same rows and params give the same parts, row for row.

Train holds out its validation rows (early stopping, the binary threshold, `make tune`'s scores) as
``stratified`` holds out test (``holdout``), whole groups of ``train.valid_size``: by rows, a
group's rows on both sides made the validation rows score entities the fit had seen.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from mlapp.params import SplitParams
from mlapp.stages.split_checks import SplitError


def fold_count(test_size: float, limit: int) -> int:
    """How many folds make one fold (1/n of the rows, as near as groups allow) nearest
    ``test_size``: 5 for 0.2, 3 for 0.3 or 0.4 (a third is nearer than a half). At most ``limit``:
    sklearn refuses more folds than groups, or than rows of the largest class."""
    counts = np.arange(2, max(2, min(limit, math.ceil(1 / test_size))) + 1)
    return int(counts[np.argmin(np.abs(1 / counts - test_size))])  # the fewer folds on a tie


def stratified(
    order: np.ndarray, labels: np.ndarray | None, groups: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of train and test, each in key order (``order``: the rows sorted by key;
    ``labels``: class codes, None for a regression label; ``groups``: each row's group hash), about
    ``test_size`` of the rows in test, drawn with ``seed``: split.test_size and split.seed for the
    split stage, train.valid_size and train.seed for train's validation rows (``holdout``)."""
    keys = groups[order]
    if labels is None:
        shuffle = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, test = next(shuffle.split(keys, groups=keys))
        return order[np.sort(train)], order[np.sort(test)]
    codes = labels[order]
    limit = min(len(np.unique(keys)), int(np.bincount(codes).max()))
    folds = StratifiedGroupKFold(fold_count(test_size, limit), shuffle=True, random_state=seed)
    target, classes = test_size * len(keys), len(np.unique(codes))

    def rank(fold: tuple[np.ndarray, np.ndarray]) -> tuple[bool, float]:
        # A fold with every class on both sides first: with a class in few groups, the fold nearest
        # in size could hold none of them while another fold holds one.
        whole = all(len(np.unique(codes[side])) == classes for side in fold)
        return not whole, abs(len(fold[1]) - target)

    # min keeps the first best fold, and holds two folds at a time (each indexes every row)
    train, test = min(folds.split(codes, codes, keys), key=rank)
    return order[train], order[test]  # sklearn's indices are ascending: key order


class WholeGroups(NamedTuple):
    """A split of whole groups as its refusals name it: the split stage's test part, or train's
    validation rows (``TRAIN_HOLDOUT``)."""

    by: str  # what splits: "split.method stratified"
    share: str  # the setting of the share held out, which cannot help a class of one group
    parts: tuple[str, str]  # kept, held out
    rows: str  # the rows split: "rows", "training rows"
    instead: str  # what data.group_column null does instead: "split rows"


TRAIN_HOLDOUT = WholeGroups(
    "train's validation hold-out", "train.valid_size", ("fit", "validation"), "training rows", "hold out rows"
)


def check_class_groups(
    labels: np.ndarray, names: list[str], hashes: np.ndarray, column: str, split: WholeGroups
) -> None:
    """A class whose rows are all one group cannot be on both sides of a split of whole groups,
    whatever share is held out: said so, not as a part lacking it that ``split.share`` could fix."""
    groups = pd.Series(hashes).groupby(labels).nunique()  # a class of no rows is check_parts' to say
    if single := [names[int(code)] for code in groups.index.to_numpy()[groups.to_numpy() < 2]]:
        kept, held = split.parts
        raise SplitError(
            f"data.group_column {column!r}: class {single} has rows in 1 group only (of the "
            f"{len(np.unique(hashes))} groups of the {len(labels)} {split.rows}), and {split.by} puts "
            f"each group's rows in {kept} or {held}, so a class needs rows in 2 groups at least (one "
            f"on each side), whatever {split.share}; add rows of that class in more groups, or set "
            f"data.group_column null to {split.instead}"
        )


def holdout(
    keys: pd.Series, labels: np.ndarray | None, names: list[str], valid_size: float, seed: int, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Train's fit and validation positions (ascending) with ``data.group_column`` (``column``,
    whose values ``keys`` are): every row of a group on one side, by ``stratified`` (``labels``:
    class codes, None for a regression label; ``names``: the classes, to name one in too few
    groups). Hashed as ``split.row_hashes`` hashes a group."""
    hashes = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    if (count := len(np.unique(hashes))) < 2:  # sklearn's bare ValueError for one group
        raise SplitError(
            f"data.group_column {column!r}: the {len(keys)} training rows are {count} group(s), and "
            f"train.valid_size {valid_size} holds out whole groups for validation (early stopping, the "
            "binary threshold), so it needs 2 at least: add groups to the training part, or set "
            "data.group_column null to hold out rows"
        )
    if labels is not None:
        check_class_groups(labels, names, hashes, column, TRAIN_HOLDOUT)
    return stratified(np.arange(len(keys)), labels, hashes, valid_size, seed)


def by_last_time(
    order: np.ndarray, times: np.ndarray, groups: np.ndarray, test_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of train and test, each in key order: the groups of the latest last events in
    test, as many as bring its rows nearest ``test_size`` (one group at least in each part)."""
    _, codes = np.unique(groups, return_inverse=True)  # by hash: an order independent of the file's
    last = pd.Series(times).groupby(codes).max().to_numpy()
    latest_first = np.lexsort((np.arange(len(last)), last))[::-1]  # ties by key
    held = np.cumsum(np.bincount(codes)[latest_first])[:-1]  # test rows, holding out 1, 2, ... groups
    count = int(np.argmin(np.abs(held - test_size * len(codes)))) + 1
    tested = np.zeros(len(last), dtype=bool)
    tested[latest_first[:count]] = True
    rows = tested[codes][order]
    return order[~rows], order[rows]


def describe(
    params: SplitParams, group: str, train: np.ndarray, test: np.ndarray, times: np.ndarray | None
) -> str:
    """What the stage prints of a group split: the share of rows it held out (``test_size`` is
    met only as nearly as whole groups allow) and, method time, the test rows that precede
    training rows."""
    share = len(test) / (len(train) + len(test))
    said = f"{len(train)} train rows, {len(test)} test rows: test holds {share:.3f} of the rows "
    said += f"(split.test_size {params.test_size}; whole groups of data.group_column {group!r})"
    if params.method == "time" and times is not None and len(train):
        earlier = int(np.count_nonzero(times[test] < times[train].max()))
        said += f"; {earlier} test row(s) precede the latest training event (earlier rows of test groups)"
    return said
