"""The PNG plots stay readable whatever the number of classes."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from mlapp import plots
from tests.report.helpers import HOSTILE_NAMES


def cells(classes: list[str], count: int) -> list[dict[str, object]]:
    return [{"actual": a, "predicted": p, "count": count} for a, p in itertools.product(classes, repeat=2)]


def overlapping(boxes: list[tuple[str, Bbox]]) -> list[tuple[str, str]]:
    """The pairs of texts whose boxes overlap, as ``Bbox.overlaps`` decides (touching edges too),
    in the order of ``itertools.combinations``: at once, not pair by pair (20 classes draw 886
    texts, 392,055 pairs: 2.7 CPU-s in Python)."""
    extents = np.array([box.extents for _, box in boxes]).reshape(-1, 4)
    x0, x1 = np.sort(extents[:, [0, 2]], axis=1).T
    y0, y1 = np.sort(extents[:, [1, 3]], axis=1).T
    meet = (
        (x0[:, None] <= x1[None, :])
        & (x0[None, :] <= x1[:, None])
        & (y0[:, None] <= y1[None, :])
        & (y0[None, :] <= y1[:, None])
    )
    return [(boxes[i][0], boxes[j][0]) for i, j in zip(*np.nonzero(np.triu(meet, k=1)), strict=True)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "classes",
    [
        *([f"class {i:02d}" for i in range(n)] for n in (2, 3, 12, 20)),
        HOSTILE_NAMES,
        ["long" * 9 + "a", "long" * 9 + "b", "c"],
    ],
    ids=["2", "3", "12", "20", "hostile", "alike-when-cut"],
)
def test_confusion_labels_never_overlap(classes: list[str]) -> None:
    """12 classes of 2-digit counts in a fixed 3.2-inch grid printed the counts over each other,
    and the second grid's "actual" over the first grid's counts: the grid grows with the classes.
    A 200-character class name grew it to 50 x 12 inches, its grids specks under names slanted
    over each other; a line break stacked its label over the next, a tab drew as a box."""
    fig = plots.confusion_figure({"base": cells(classes, 4_704), "PR": cells(classes, 4_711)})
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        clashes = overlapping(boxes)
        assert not clashes, clashes[:5]
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(set(labels)) == len(classes)  # still one label a class
        assert all(len(t) <= 30 and t.isprintable() for t in labels), labels
        assert fig.get_size_inches()[1] <= 0.6 * len(classes) + 4  # grid and labels, not a name's length
    finally:
        plt.close(fig)


def test_class_names_are_drawn_as_written_not_as_mathtext() -> None:
    """matplotlib reads text between two '$' as TeX: a class '$\\alpha' crashed the report (and
    MLflow's plots) on an unknown symbol, and '$5 to $10' was drawn as an italic '5 to '."""
    classes = ["$\\undefinedcmd$", "$5 to $10", "plain"]
    fig = plots.confusion_figure({"base": cells(classes, 3), "PR": cells(classes, 4)})
    try:
        fig.canvas.draw()  # was: ParseFatalException: Unknown symbol: \undefinedcmd
        ax = fig.axes[0]
        labels = [*ax.get_xticklabels(), *ax.get_yticklabels()]
        assert [t.get_text() for t in labels] == classes * 2
        assert not any(t.get_parse_math() for t in labels)
    finally:
        plt.close(fig)
