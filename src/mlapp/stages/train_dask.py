"""Training engine ``dask``: the same model as ``train.engine: local``, fitted by xgboost.dask.

The client streams the training table to the workers in partitions (Arrow batches of
``train.dask.partition_rows`` rows, at least one per worker), so neither the runner nor any
one worker has to hold what the whole cluster holds, and the workers need no access to the
runner's files. Each partition is split into fit/validation rows (``dask_parts``: with a seed
derived from ``train.seed`` and the partition number, stratified by the label of a binary task;
whole groups with ``data.group_column``; regression
uses ``train.regression_objective``, as the local engine does), early stopping and the binary
threshold use the validation rows, and the result is a plain ``xgboost.Booster`` saved as
the same UBJSON file with the same ``ModelSpec``: serving, report and monitor do not know
which engine trained it.

Determinism (measured by the tests): with the same cluster shape (workers x threads) and
partitioning, the model bytes are identical from run to run on a LocalCluster. Across
shapes they differ: XGBoost's distributed histogram sums in another order, and the
fit/validation rows depend on the partitioning. Metrics stay within the tolerance the
tests state of the local engine's on the same train/test split.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from mlapp.model import ModelSpec
from mlapp.params import Task, TrainParams
from mlapp.stages.dask_cluster import client
from mlapp.stages.dask_parts import check_partitions, holdouts, partition_sizes
from mlapp.tables import stage_table

if TYPE_CHECKING:
    from pathlib import Path

    import dask.dataframe as dd
    from distributed import Client, Future
    from xgboost.dask import DaskDMatrix


def _batches(source: Path, sizes: list[int]) -> Iterator[pd.DataFrame]:
    """The table in partitions of the given lengths, read piecewise, never whole.

    Parquet batches end at row-group boundaries; re-slicing keeps partitions even, so the
    workers get equal shares and no partition is a stray handful of rows.
    """
    table = pq.ParquetFile(source)
    pending: pa.Table | None = None
    wanted = iter(sizes)
    size = next(wanted, 0)
    for batch in table.iter_batches(batch_size=max(sizes, default=1)):
        piece = pa.Table.from_batches([batch])
        pending = piece if pending is None else pa.concat_tables([pending, piece])
        while size and pending.num_rows >= size:
            yield pending.slice(0, size).to_pandas()
            pending = pending.slice(size)
            size = next(wanted, 0)


def _pin(matrix: DaskDMatrix, workers: list[str]) -> None:
    """Partition i trains on worker i mod n, wherever Dask's scheduler left its data.

    The scheduler moves small tasks to idle workers, so a partition's placement is a race:
    under load, both partitions landed on one worker and the other held only validation
    rows, and XGBoost's collective failed on that empty worker. XGBoost hands each worker
    the parts its ``worker_map`` lists (fetching them if they live elsewhere), so fixing the
    map fixes the placement: every worker trains on rows, partition i's fit and validation
    rows share a worker, and the same data gives the same bytes whatever the race did.
    """
    parts = sorted(
        (part for held in matrix.worker_map.values() for part in held),
        key=lambda part: matrix.partition_order[part.key],
    )
    placed: defaultdict[str, list[Future[Any]]] = defaultdict(list)
    for number, part in enumerate(parts):
        placed[workers[number % len(workers)]].append(part)
    matrix.worker_map = placed


def _scatter(
    dask: Client,
    source: Path,
    sizes: list[int],
    held: list[tuple[np.ndarray, np.ndarray]],
    workers: list[str],
    spec: ModelSpec,
    encoded: np.ndarray,
) -> dict[str, dd.DataFrame]:
    """The fit and validation features and labels (``fit_x``, ``fit_y``, ``valid_x``,
    ``valid_y``) as Dask frames, each partition sent to the worker ``_pin`` will train it on."""
    import dask.dataframe as dd

    label = spec.label
    parts: dict[str, list[Future[Any]]] = {"fit_x": [], "fit_y": [], "valid_x": [], "valid_y": []}
    starts = [0, *accumulate(sizes)]
    for number, part in enumerate(_batches(source, sizes)):
        part.index += starts[number]  # table positions: the rows' places in ``encoded``
        fit, valid = (part.loc[at] for at in held[number])
        # Start each partition where _pin will train it, so usually nothing moves.
        where = [workers[number % len(workers)]]
        for name, side in (("fit", fit), ("valid", valid)):
            parts[f"{name}_x"].append(dask.scatter(spec.to_matrix(side), workers=where))
            y = pd.Series(encoded[side.index], index=side.index, name=label)
            parts[f"{name}_y"].append(dask.scatter(y, workers=where))
    meta_x = spec.to_matrix(part.iloc[:0])
    meta_y = pd.Series(encoded[:0], name=label)
    return {
        name: dd.from_delayed(futures, meta=meta_y if name.endswith("_y") else meta_x)
        for name, futures in parts.items()
    }


def _fit(
    dask: Client,
    frames: dict[str, dd.DataFrame],
    workers: list[str],
    params: TrainParams,
    task: Task,
    encoded: np.ndarray,
    classes: int,
) -> tuple[xgb.Booster, int]:
    """The booster trained on the pinned partitions, cut at its best iteration (and that iteration)."""
    from xgboost import dask as dxgb

    from mlapp.stages.train import objective

    dfit = dxgb.DaskQuantileDMatrix(dask, frames["fit_x"], frames["fit_y"], enable_categorical=True)
    dvalid = dxgb.DaskQuantileDMatrix(
        dask, frames["valid_x"], frames["valid_y"], ref=dfit, enable_categorical=True
    )
    for matrix in (dfit, dvalid):
        _pin(matrix, workers)
    native = params.xgboost.model_dump(exclude={"n_estimators", "n_jobs"})  # nthread: Dask's
    chosen = objective(task, params, encoded if task == "regression" else None, classes)
    native |= {**chosen, "seed": params.seed}
    wait = params.dask.timeout_s
    result = dxgb.train(
        dask,
        native,
        dfit,
        num_boost_round=params.xgboost.n_estimators,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
        # Without it XGBoost's tracker waits for ever for a worker that never joins (one lost
        # before training started): a stage that hangs instead of failing.
        coll_cfg=xgb.collective.Config(timeout=wait, tracker_timeout=wait),
    )
    best = int(result["booster"].best_iteration)
    return result["booster"][: best + 1], best


def train(
    source: Path,
    label: str,
    params: TrainParams,
    classes: list[str] | None = None,
    task: Task = "binary",
    *,
    examples: int,
    group: str | None = None,
) -> tuple[xgb.Booster, ModelSpec]:
    """Fit on the cluster; the booster is cut at the best iteration, as the local engine does.

    ``classes``: ``data.classes``; unset, the two labels sorted, as the local engine orders them
    (only the label column is read for that). ``task``: binary or regression (with
    ``train.regression_objective``, whose pseudo-Huber start is the median of every training label).
    ``examples``: validate.max_failure_examples, the labels a failed encoding names. ``group``:
    data.group_column, whose groups the validation rows hold whole (``dask_parts.grouped``)."""
    from xgboost import dask as dxgb

    from mlapp.stages.train import base_spec, choose_threshold, class_names

    keys = [label, *([group] if group else [])]
    read = pq.read_table(stage_table(source, keys), columns=keys)
    labels = read.column(label).to_pandas()
    groups = read.column(group).to_pandas().rename(group) if group else None
    spec = base_spec(label, task, None if task == "regression" else class_names(labels, classes))
    # Encoded whole, not per partition: float labels are named 1.0/1.5 or 1/2 by whether every
    # label is whole (label_text), and a partition holding only 1.0 would name it "1", no class.
    encoded = spec.encode(labels, examples=examples)
    names = None if task == "regression" else spec.classes
    rows = pq.ParquetFile(source).metadata.num_rows

    def draw(workers: int) -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]:
        """Partition lengths for this many workers, checked, and each partition's hold-out."""
        sizes = partition_sizes(rows, workers, params.dask.partition_rows)
        check_partitions(sizes, workers, params)
        return sizes, holdouts(labels, encoded, names, sizes, params, groups, workers)

    # A LocalCluster's size is known before it starts it: drawn (and refused) before the start.
    early = None if params.dask.resolved_scheduler() else draw(params.dask.workers)
    with client(params.dask) as dask:
        workers = sorted(dask.scheduler_info(n_workers=-1)["workers"])
        # A remote cluster's size is known only now; a local one drawn above is not drawn again.
        sizes, held = early if early and len(workers) == params.dask.workers else draw(len(workers))
        frames = _scatter(dask, source, sizes, held, workers, spec, encoded)
        booster, best = _fit(dask, frames, workers, params, task, encoded, len(spec.classes))
        scores = dxgb.predict(dask, booster, frames["valid_x"]).compute()
        y_valid = frames["valid_y"].compute().to_numpy()
    threshold = choose_threshold(y_valid, np.asarray(scores), params) if task == "binary" else None
    return booster, ModelSpec(spec.features, spec.categories, label, threshold, best, spec.task, spec.classes)
