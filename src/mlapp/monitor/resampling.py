"""Metric decay's bootstrap at any batch size: each watched metric per resample of the batch.

The PR report's bootstrap (``mlapp.report.bootstrap``) weights every test row in every
resample and computes every metric of the task. A monitored batch can be a day of traffic:
at 200,000 labeled rows the decay bootstrap took 28 s, at 2 million it was stopped after 40
minutes. Here, with the same statistics:

- Rows of the same scores and label are one cell, counted. The rows are drawn as the report
  draws them (same generator, same chunks) and tallied per cell, so the values are the
  report's ``resampled`` (to floating-point rounding). Cells are found once, not sorted again
  in every chunk; binary cells are (distinct score, label), from which the ranking metrics
  follow without a sort. Only the watched metrics are computed.
- Above ``monitor.decay_bootstrap_rows`` labeled rows the bootstrap runs on a random subset
  of that many rows, and each resample's deviation from the subset's metric is scaled by
  sqrt(subset / rows) around the metric of all rows. Every metric here is an average or a
  smooth function of averages, whose spread shrinks as 1/sqrt(rows): this is the full
  bootstrap's interval up to the subset's own sampling error (exact as the subset grows),
  and time and memory stop growing with the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlapp.report import bootstrap

RANKING = {"roc_auc", "pr_auc"}


@dataclass(frozen=True)
class Cells:
    """Each row's cell, how many cells there are, and the metrics as functions of the cells'
    counts (shape (resamples, cells)): every metric of a row depends on its cell alone."""

    of_row: np.ndarray
    size: int
    measure: Callable[[np.ndarray], dict[str, np.ndarray]]

    def counts(self, drawn: np.ndarray) -> np.ndarray:
        """How often each resample (a row of ``drawn``: row indices) drew each cell."""
        return bootstrap.tally(self.of_row[drawn], self.size)


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


def task_cells(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> Cells:
    """Distinct (scores, label) rows: any task, as ``bootstrap.task_metrics`` weights rows."""
    columns = scored[0].reshape(len(y), -1)
    order = np.lexsort([y, *columns.T[::-1]])
    keyed = np.column_stack([columns, y])[order]
    starts = np.r_[True, (keyed[1:] != keyed[:-1]).any(axis=1)]
    of_row = np.empty(len(y), dtype=np.int64)
    of_row[order] = np.cumsum(starts) - 1
    first = order[starts]

    def measure(counts: np.ndarray) -> dict[str, np.ndarray]:
        values = bootstrap.task_metrics(task, counts, y[first], scored[0][first], scored[1], classes)
        return {m: values[m] for m in names}

    return Cells(of_row, len(first), measure)


def task_cells_for(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> Cells:
    return binary_cells(y, scored, names) if task == "binary" else task_cells(y, scored, task, classes, names)


def resampled(
    y: np.ndarray,
    scored: tuple[np.ndarray, float],
    resamples: int,
    seed: int,
    task: str,
    classes: list[str],
    names: list[str],
) -> dict[str, np.ndarray]:
    """Metrics ``names`` per resample of all rows: the report's ``bootstrap.resampled``, by cell."""
    cells = task_cells_for(y, scored, task, classes, names)
    parts: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for drawn in bootstrap.drawn_chunks(len(y), resamples, seed):
        for m, values in cells.measure(cells.counts(drawn)).items():
            parts[m].append(values)
    return {m: np.concatenate(parts[m]) for m in names}


def point(
    y: np.ndarray, scored: tuple[np.ndarray, float], task: str, classes: list[str], names: list[str]
) -> dict[str, float]:
    """Metrics ``names`` on all rows, computed as a resample's are (each row drawn once)."""
    cells = task_cells_for(y, scored, task, classes, names)
    return {m: float(v[0]) for m, v in cells.measure(cells.counts(np.arange(len(y))[None, :])).items()}


def decay_resampled(
    y: np.ndarray,
    scored: tuple[np.ndarray, float],
    *,
    resamples: int,
    seed: int,
    task: str,
    classes: list[str],
    names: list[str],
    max_rows: int,
) -> dict[str, np.ndarray]:
    """Metrics ``names`` per resample: of all rows up to ``max_rows`` rows, else of a subset
    of ``max_rows`` rows with each deviation scaled to all rows (see the module docstring)."""
    if len(y) <= max_rows:
        return resampled(y, scored, resamples, seed, task, classes, names)
    # A stream of its own: the resamples' generator starts from ``seed`` itself.
    subset = np.sort(np.random.default_rng([seed, len(y)]).choice(len(y), size=max_rows, replace=False))
    part = (y[subset], (scored[0][subset], scored[1]))
    values = resampled(*part, resamples, seed, task, classes, names)
    centre, whole = point(*part, task, classes, names), point(y, scored, task, classes, names)
    scale = np.sqrt(max_rows / len(y))
    return {m: whole[m] + scale * (values[m] - centre[m]) for m in names}
