"""What a split must leave in each part, said as the split stage and both train engines say it:
every class in every part (a stratified split of too few rows, a hash or time split that drew
none of a class), else an error naming the class, the setting and what to change. Kept apart
from the split stage so that train, which holds out its validation rows by the same rules,
depends on these checks and not on how the stage splits.
"""

from __future__ import annotations

import math

import numpy as np

from mlapp.errors import UserError


class SplitError(UserError, ValueError):
    """A split params ask for cannot be made (a part without a class, one key for every row): what
    to change is the split's params or the data."""


def check_stratifiable(
    codes: np.ndarray, names: list[str], share: float, setting: str, parts: tuple[str, str]
) -> None:
    """What sklearn's stratified ``train_test_split`` of ``share`` would refuse with a bare
    ValueError (a traceback), said with the class and the setting: a row of every class goes to
    each part, so a class needs two rows and each part (``parts``: kept, held out) as many rows
    as there are classes."""
    counts = np.bincount(codes, minlength=len(names))
    single = [names[i] for i in np.flatnonzero(counts == 1)]
    if single:
        raise SplitError(
            f"class {single} has 1 row of {len(codes)}: a stratified split ({setting}) puts a row of every "
            "class in each part, so a class needs 2; add rows of that class (validate.min_class_rows in "
            "params.yaml is the least a class may have: raise it to stop such a table at validate)"
        )
    held = math.ceil(share * len(codes))  # as sklearn rounds
    classes = int(np.count_nonzero(counts))
    for part, rows in zip(parts, (len(codes) - held, held), strict=True):
        if rows < classes:
            raise SplitError(
                f"{setting} {share} of {len(codes)} rows: {rows} {part} row(s) for {classes} classes, "
                f"and each part needs a row of every class; add rows or change {setting} (params.yaml)"
            )


def class_fix(*changes: str) -> str:
    """What to do about a part with no rows of a class, as split and both train engines say it: rows
    of that class first (every way of splitting then has some to give), then ``changes`` to settings."""
    *first, last = ["add rows of that class", *changes]
    return f"{', '.join(first)}, or {last}" if first else last


def check_parts(
    codes: np.ndarray, names: list[str], parts: dict[str, np.ndarray], split: str, fix: str
) -> None:
    """Every class in every part (``parts``: name -> row positions; ``split`` names the setting
    that made them, ``fix`` what to change): a class missing from test leaves its metrics undefined
    (a ROC AUC of one class), one missing from train cannot be learnt, one missing from train's
    validation part leaves early stopping and the threshold blind to it. sklearn's stratified
    split rounds a class's share of a part down to none (2 rows, 20% held out: 0.4 rows); a hash
    or time split need not hold one either (10 rows of a class all land in train with
    probability 0.8^10 = 11% at test_size 0.2)."""
    for part, rows in parts.items():
        absent = np.setdiff1d(np.arange(len(names)), codes[rows])
        if len(absent):
            raise SplitError(
                f"{split}: the {part} part ({len(rows)} rows) has no rows of class "
                f"{[names[i] for i in absent]}; {fix}"
            )
