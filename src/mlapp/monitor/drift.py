"""The comparison: per-feature drift, prediction shift and metric decay.

Pure functions of tables, scores and ``MonitorParams``; reading files is ``run``'s job, and
whether to retrain ``decision``'s. A batch read in chunks is counted as it passes
(``feature_tally`` + ``count``, ``PredictionTally``) and judged once whole (``judged``,
``PredictionTally.shift``); ``one_feature`` and ``prediction_shift`` do both on a batch held whole.
Every number is rounded (``round6``) so the same inputs give byte-identical reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlapp.metrics import LOWER_IS_BETTER, flat, round6, task_metrics
from mlapp.model import ModelSpec
from mlapp.monitor import stats
from mlapp.monitor.resampling import resampled
from mlapp.monitor.rows import FeatureDrift, MetricDecay, PredictionShift
from mlapp.params import MetricName, MonitorParams
from mlapp.report.bootstrap import percentile_interval
from mlapp.schema import categories
from mlapp.tolerances import tolerance_amount


def significant(value: float) -> float:
    """p-values span many orders of magnitude: keep 4 significant digits, not 6 decimals."""
    return float(f"{value:.4g}")


def feature_levels(schema: pa.DataFrameSchema) -> dict[str, list[object] | None]:
    """Each feature's category levels (``isin`` columns, booleans) or None for a numeric."""
    declared = categories(schema)
    levels: dict[str, list[object] | None] = {}
    for name, column in schema.columns.items():
        if name in declared:
            levels[name] = list(declared[name])
        elif str(column.dtype) in ("bool", "boolean"):
            levels[name] = [False, True]
        else:
            levels[name] = None
    return levels


def _largest_change(binned: stats.Binned) -> str:
    i = int(np.argmax(np.abs(binned.batch - binned.reference)))
    return f"{binned.labels[i]}: {binned.reference[i]:.1%} -> {binned.batch[i]:.1%}"


def _numbers(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


FeatureTally = stats.NumericTally | stats.CategoryTally


def feature_tally(levels: list[object] | None, reference: pd.Series, bins: int) -> FeatureTally:
    """A feature's counts of the batch, to be fed chunk by chunk (``count``)."""
    if levels is None:
        return stats.NumericTally(_numbers(reference), bins)
    return stats.CategoryTally(reference, levels, bins)


def count(tally: FeatureTally, batch: pd.Series) -> None:
    if isinstance(tally, stats.NumericTally):
        tally.add(_numbers(batch))
    else:
        tally.add(batch)


def judged(name: str, tally: FeatureTally, monitor: MonitorParams) -> FeatureDrift:
    """A feature's drift from its counts of the whole batch."""
    threshold = monitor.psi_by_feature.get(name, monitor.psi)
    binned = tally.binned()
    ks = tally.ks() if isinstance(tally, stats.NumericTally) else None
    psi = round6(stats.psi(binned.reference, binned.batch))
    why = []
    if psi >= threshold:
        why.append(f"PSI {psi:.3f} >= {threshold}")
    if ks and ks[1] < monitor.ks_pvalue and ks[0] >= monitor.ks_statistic:
        why.append(f"KS {ks[0]:.3f} (p {ks[1]:.1e})")
    return FeatureDrift(
        feature=name,
        kind="numeric" if isinstance(tally, stats.NumericTally) else "categorical",
        psi=psi,
        psi_threshold=threshold,
        ks_statistic=round6(ks[0]) if ks else None,
        ks_pvalue=significant(ks[1]) if ks else None,
        missing_reference=round6(tally.reference_missing),
        missing_batch=round6(tally.missing()),
        largest_change=_largest_change(binned),
        drifted=bool(why),
        why=why,
    )


def one_feature(
    name: str, levels: list[object] | None, reference: pd.Series, batch: pd.Series, monitor: MonitorParams
) -> FeatureDrift:
    tally = feature_tally(levels, reference, monitor.bins)
    count(tally, batch)
    return judged(name, tally, monitor)


def feature_drift(
    reference: pd.DataFrame, batch: pd.DataFrame, schema: pa.DataFrameSchema, monitor: MonitorParams
) -> list[FeatureDrift]:
    return [
        one_feature(name, levels, reference[name], batch[name], monitor)
        for name, levels in feature_levels(schema).items()
    ]


class PredictionTally:
    """The batch's predictions counted chunk by chunk against the reference's, by the task's kind
    of output (``PredictionShift``): the whole batch's numbers, without its scores."""

    def __init__(self, reference: np.ndarray, spec: ModelSpec, bins: int) -> None:
        self.spec = spec
        self.reference_rows = len(reference)
        self.names = np.asarray(spec.classes, dtype=object)
        self.classes: stats.CategoryTally | None = None
        self.class_counts = np.zeros(len(spec.classes))
        if spec.task == "multiclass":
            predicted = spec.decide(reference)
            self.classes = stats.CategoryTally(pd.Series(self.names[predicted]), spec.classes, bins)
            self.reference_class_counts = np.bincount(predicted, minlength=len(spec.classes))
            reference = reference.max(axis=1)
        self.scores = stats.NumericTally(reference, bins)
        self.mean_reference = round6(reference.mean())
        binary = spec.task == "binary"  # the decision threshold on P(positive)
        self.positive_reference = round6((reference >= spec.cutoff).mean()) if binary else None
        self.positive = 0

    def add(self, batch: np.ndarray) -> None:
        if self.classes is not None:
            predicted = self.spec.decide(batch)
            self.classes.add(pd.Series(self.names[predicted]))
            self.class_counts += np.bincount(predicted, minlength=len(self.spec.classes))
            batch = batch.max(axis=1)
        self.scores.add(batch)
        if self.positive_reference is not None:
            self.positive += int((batch >= self.spec.cutoff).sum())

    def shift(self, monitor: MonitorParams) -> PredictionShift:
        binned = (self.classes or self.scores).binned()
        psi = round6(stats.psi(binned.reference, binned.batch))
        ks = self.scores.ks() or (0.0, 1.0)
        binary, rows = self.positive_reference is not None, max(self.scores.rows, 1)
        shares = None
        if self.classes is not None:
            counted = (self.reference_class_counts / self.reference_rows, self.class_counts / rows)
            shares = [
                {c: round6(n) for c, n in zip(self.spec.classes, side, strict=True)} for side in counted
            ]
        return PredictionShift(
            psi=psi,
            threshold=monitor.prediction_psi,
            ks_statistic=round6(ks[0]),
            ks_pvalue=significant(ks[1]),
            mean_reference=self.mean_reference,
            mean_batch=round6(self.scores.total / rows),
            positive_rate_reference=self.positive_reference,
            positive_rate_batch=round6(self.positive / rows) if binary else None,
            shifted=psi >= monitor.prediction_psi,
            reference_rows=self.reference_rows,
            class_shares_reference=shares[0] if shares else None,
            class_shares_batch=shares[1] if shares else None,
        )


def prediction_shift(
    reference: np.ndarray, batch: np.ndarray, spec: ModelSpec, monitor: MonitorParams
) -> PredictionShift:
    """The batch's predictions against the reference's (``PredictionTally``), all at once."""
    tally = PredictionTally(reference, spec, monitor.bins)
    tally.add(batch)
    return tally.shift(monitor)


def metric_decay(
    y_true: np.ndarray,
    scores: np.ndarray,
    spec: ModelSpec,
    reference_metrics: dict[str, Any],
    tolerances: Mapping[MetricName, float | str],
    *,
    resamples: int,
    seed: int,
    confidence: float,
    max_rows: int,
) -> list[MetricDecay]:
    """Each watched metric on the labeled rows against the same metric in metrics.json. A metric
    decayed when it fell by more than its tolerance and the batch's bootstrap interval excludes
    the reference: a few labeled positives (a rare class) move a metric by chance, far. The
    interval is the watched metrics' bootstrap over at most ``max_rows`` rows (``resampling``)."""
    now = flat(task_metrics(spec.task, y_true, scores, spec.threshold, spec.classes))
    values = resampled(
        y_true,
        (scores, spec.cutoff),
        resamples=resamples,
        seed=seed,
        task=spec.task,
        classes=spec.classes,
        names=sorted(tolerances),
        max_rows=max_rows,
    )
    rows = []
    for metric, tolerance in sorted(tolerances.items()):
        before, after = float(reference_metrics[metric]), round6(now[metric])
        low, high = percentile_interval(values[metric], confidence)
        worse = metric in LOWER_IS_BETTER
        loss, beyond_noise = (after - before, low > before) if worse else (before - after, high < before)
        decayed = loss > tolerance_amount(tolerance, before) and beyond_noise
        rows.append(
            MetricDecay(
                metric,
                round6(before),
                after,
                round6(after - before),
                tolerance,
                decayed,
                round6(low),
                round6(high),
            )
        )
    return rows
