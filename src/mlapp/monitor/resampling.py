"""Metric decay's bootstrap at any batch size: each watched metric per resample of the batch.

The PR report's bootstrap (``mlapp.report.bootstrap``) weights every test row in every
resample and computes every metric of the task. A monitored batch can be a day of traffic:
at 200,000 labeled rows the decay bootstrap took 28 s, at 2 million it was stopped after 40
minutes. Here, with the same statistics:

- Rows that the watched metrics cannot tell apart are one cell, counted: for confusion-matrix
  metrics alone (accuracy, F1, precision, recall) the same label and predicted class (at most
  classes² cells), else for binary the same label and score. The rows are drawn as the report
  draws them (same generator, same chunks) and tallied per cell, so the values are the
  report's ``resampled`` (to floating-point rounding). Binary cells are sorted by score once,
  not in every chunk, and the ranking metrics are cumulative sums over them. Only the watched
  metrics are computed.
- Above ``monitor.decay_bootstrap_rows`` labeled rows the bootstrap runs on a random subset
  of that many rows, and each resample's deviation from the subset's metric is scaled by
  sqrt(subset / rows) around the metric of all rows. Every metric here is an average or a
  smooth function of averages, whose spread shrinks as 1/sqrt(rows): this is the full
  bootstrap's interval up to the subset's own sampling error (exact as the subset grows),
  and time and memory stop growing with the batch. Unless a class would have fewer than
  ``MIN_SUBSET_CLASS_ROWS`` rows in the subset: every row is then resampled, slower.
  ``mlapp monitor run`` reads a batch in chunks and keeps at most that many labeled rows
  (``tally.LabeledSample``, a seeded sample): it hands this module no more, so the subset and its
  scaling serve callers of ``drift.metric_decay`` that hold every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlapp.report import bootstrap

RANKING = {"roc_auc", "pr_auc"}
# A metric's spread is read from the subset: a rare class needs enough rows there (1,000 rows
# read a spread to about 3%); with fewer, the subset's own chance would decide the interval.
MIN_SUBSET_CLASS_ROWS = 1000
# Functions of the confusion matrix alone (per-class ones end in precision or recall).
CONFUSION = {"accuracy", "f1", "precision", "recall", "f1_macro", "f1_weighted"}


@dataclass(frozen=True)
class Cells:
    """Each row's cell (None: each row is its own), how many cells there are, and the metrics
    as functions of the cells' counts (shape (resamples, cells))."""

    of_row: np.ndarray | None
    size: int
    measure: Callable[[np.ndarray], dict[str, np.ndarray]]

    def counts(self, drawn: np.ndarray) -> np.ndarray:
        """How often each resample (a row of ``drawn``: row indices) drew each cell."""
        return bootstrap.tally(drawn if self.of_row is None else self.of_row[drawn], self.size)


def binary_cells(y: np.ndarray, scored: tuple[np.ndarray, float], names: list[str]) -> Cells:
    """Cell 2g + label for the g-th distinct score (ascending): AUC and average precision
    are cumulative sums over them; the other metrics see each cell as a weighted row."""
    distinct, group = np.unique(scored[0], return_inverse=True)

    def measure(counts: np.ndarray) -> dict[str, np.ndarray]:
        if set(names) - RANKING:  # a threshold metric or a loss: every metric, cells as rows
            labels, proba = np.tile([0, 1], len(distinct)), np.repeat(distinct, 2)
            values = bootstrap.weighted_metrics(counts, labels, proba, scored[1])
            return {m: values[m] for m in names}
        neg, pos = counts[:, 0::2], counts[:, 1::2]
        ranking = {
            "roc_auc": lambda: bootstrap.grouped_roc_auc(pos, neg),
            "pr_auc": lambda: bootstrap.grouped_average_precision(pos[:, ::-1], neg[:, ::-1]),
        }
        return {m: ranking[m]() for m in names}

    return Cells(2 * group + y, 2 * len(distinct), measure)


def _measure(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Metrics ``names`` of rows ``y``/``scored`` weighted by counts, as ``bootstrap.task_metrics``."""

    def measure(counts: np.ndarray) -> dict[str, np.ndarray]:
        values = bootstrap.task_metrics(task, counts, y, scored[0], scored[1], classes)
        return {m: values[m] for m in names}

    return measure


def confusion_cells(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> Cells:
    """A cell per (predicted class, label), one of its rows standing for it: every confusion
    count is right (the metrics of scores computed alongside are not, and not returned)."""
    scores, threshold = scored
    predicted = np.argmax(scores, axis=1) if task == "multiclass" else (scores >= threshold).astype(np.int64)
    key = predicted * (int(y.max()) + 1) + y
    distinct, first, of_row = np.unique(key, return_index=True, return_inverse=True)
    return Cells(of_row, len(distinct), _measure(y[first], (scores[first], threshold), task, classes, names))


def cells_for(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> Cells:
    if task != "regression" and all(m.rsplit(".", 1)[-1] in CONFUSION for m in names):
        return confusion_cells(y, scored, task, classes, names)
    if task == "binary":
        return binary_cells(y, scored, names)
    # Continuous scores (a probability vector, a regression's prediction): hardly two rows alike.
    return Cells(None, len(y), _measure(y, scored, task, classes, names))


def resampled(
    y: np.ndarray,
    scored: tuple[np.ndarray, float],
    resamples: int,
    seed: int,
    task: str,
    classes: list[str],
    names: list[str],
    max_rows: int | None = None,
) -> dict[str, np.ndarray]:
    """Metrics ``names`` per resample: the report's ``bootstrap.resampled``, by cell. Of all rows
    up to ``max_rows`` rows (None: always), else of a subset of ``max_rows`` rows with each
    deviation scaled to all rows (see the module docstring)."""
    if max_rows is not None and _subset_serves(y, task, max_rows):
        # A stream of its own: the resamples' generator starts from ``seed`` itself.
        subset = np.sort(np.random.default_rng([seed, len(y)]).choice(len(y), size=max_rows, replace=False))
        part = (y[subset], (scored[0][subset], scored[1]))
        values = resampled(*part, resamples, seed, task, classes, names)
        centre, whole = point(*part, task, classes, names), point(y, scored, task, classes, names)
        scale = np.sqrt(max_rows / len(y))
        return {m: whole[m] + scale * (values[m] - centre[m]) for m in names}
    cells = cells_for(y, scored, task, classes, names)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for drawn in bootstrap.drawn_chunks(len(y), resamples, seed):
        for m, measured in cells.measure(cells.counts(drawn)).items():
            parts[m].append(measured)
    return {m: np.concatenate(parts[m]) for m in names}


def _subset_serves(y: np.ndarray, task: str, max_rows: int) -> bool:
    """More than ``max_rows`` rows, and a subset of that many keeps ``MIN_SUBSET_CLASS_ROWS`` of
    the rarest class (else every row is resampled)."""
    if len(y) <= max_rows:
        return False
    rarest = len(y) if task == "regression" else int(np.unique(y, return_counts=True)[1].min())
    return rarest * max_rows / len(y) >= MIN_SUBSET_CLASS_ROWS


def point(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> dict[str, float]:
    """Metrics ``names`` on all rows, computed as a resample's are (each row drawn once)."""
    cells = cells_for(y, scored, task, classes, names)
    return {m: float(v[0]) for m, v in cells.measure(cells.counts(np.arange(len(y))[None, :])).items()}
