"""How train.engine dask cuts the training table, checked before any data reaches a worker.

Partition i trains on worker i mod n, and a partition holds validation rows out only from
2 / train.valid_size rows on: a worker left without any failed inside XGBoost ("A worker
cannot have empty input ..."). Now lengths are even, and a table too small for the cluster is
one line naming the settings to change. (The cluster runs are in test_train_dask.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import distributed
import pytest

from mlapp.params import TrainParams, load_params
from mlapp.sample_data import generate
from mlapp.stages import train_dask
from mlapp.stages.dask_parts import TooFewRows, check_partitions, partition_sizes
from mlapp.stages.split import SplitError
from mlapp.tables import write_frame
from tests.conftest import REPO

PARAMS_ALL = load_params(REPO / "params.yaml")
PARAMS = PARAMS_ALL.train  # valid_size 0.2: 10 rows hold validation out


def _train(partition_rows: int = 1_000_000) -> TrainParams:
    dask = PARAMS.dask.model_copy(update={"partition_rows": partition_rows})
    return PARAMS.model_copy(update={"dask": dask})


@pytest.mark.parametrize(
    ("rows", "workers", "partition_rows", "sizes"),
    [
        (121, 8, 1_000_000, [16] * 1 + [15] * 7),  # was seven of 16 and a tail of 9
        (31, 3, 1_000_000, [11, 10, 10]),  # was 11, 11, 9
        (16_001, 2, 1_000_000, [8_001, 8_000]),  # two partitions: as before, so the same bytes
        (10_000, 1, 2_000, [2_000] * 5),
        (3, 8, 1_000_000, [1, 1, 1]),  # fewer rows than workers: one row each
    ],
)
def test_partitions_are_even(rows: int, workers: int, partition_rows: int, sizes: list[int]) -> None:
    assert partition_sizes(rows, workers, partition_rows) == sizes
    assert sum(sizes) == rows


def test_a_table_the_cluster_can_share_passes() -> None:
    check_partitions(partition_sizes(121, 8, 1_000_000), 8, _train())
    check_partitions(partition_sizes(20, 2, 1_000_000), 2, _train())


@pytest.mark.parametrize(
    ("rows", "workers", "partition_rows", "message"),
    [
        (
            17,
            2,
            1_000_000,
            r"17 training rows in 2 partition\(s\) of at most 9 rows leave 2 of 2 Dask "
            r"workers without validation rows \(a partition needs at least 10: 2 / train.valid_size\); "
            r"set train.dask.workers to at most 1 \(or use a smaller cluster\), or use train.engine: local$",
        ),
        (3, 8, 1_000_000, r"leave 8 of 8 Dask workers .*\); use train.engine: local$"),  # 3 get 1 row, 5 none
        # A partition_rows of 10 is not enough: 21 rows in ceil(21 / 10) = 3 partitions are 7 rows each.
        (21, 2, 10, r"; set train.dask.partition_rows to at least 11, or use train.engine: local$"),
        (121, 13, 5, r"set train.dask.workers to at most 12 .*and train.dask.partition_rows to at least 11,"),
    ],
)
def test_too_few_rows_per_worker_is_one_line_naming_the_settings(
    rows: int, workers: int, partition_rows: int, message: str
) -> None:
    with pytest.raises(TooFewRows, match=message) as raised:
        check_partitions(partition_sizes(rows, workers, partition_rows), workers, _train(partition_rows))
    assert "\n" not in str(raised.value)


def test_the_settings_named_are_enough() -> None:
    """Whatever the table and cluster, the workers and partition_rows the error names pass."""
    for rows in range(10, 400, 7):
        for workers in (1, 2, 3, 8, 13):
            for partition_rows in (1, 5, 10, 50, 1_000_000):
                try:
                    check_partitions(
                        partition_sizes(rows, workers, partition_rows), workers, _train(partition_rows)
                    )
                    continue
                except TooFewRows as error:
                    named = dict(re.findall(r"(train\.dask\.\w+) to at \w+ (\d+)", str(error)))
                fixed_workers = int(named.get("train.dask.workers", workers))
                fixed_rows = int(named.get("train.dask.partition_rows", partition_rows))
                sizes = partition_sizes(rows, fixed_workers, fixed_rows)
                check_partitions(sizes, fixed_workers, _train(fixed_rows))


def test_a_table_too_small_for_a_local_cluster_is_refused_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """17 rows on the params' 2 local workers: no partition holds validation rows out. The
    line came only after the LocalCluster had started its worker processes (seconds, and a
    port each); the cluster's size is in params, so the check runs first."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("a LocalCluster was started for a table it cannot train on")

    monkeypatch.setattr(distributed, "LocalCluster", started)
    tiny = tmp_path / "tiny.parquet"
    write_frame(generate(17, 3), tiny)
    expected = r"leave 2 of 2 Dask workers without validation rows .*train.engine: local$"
    with pytest.raises(TooFewRows, match=expected):
        train_dask.train(
            tiny, PARAMS_ALL.data.label, _train(), examples=PARAMS_ALL.validate_.max_failure_examples
        )


def test_a_class_no_partition_holds_out_is_refused_before_the_cluster_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 rows with 2 positives in each of the 2 partitions of 15: the stratified hold-out of 3
    rows rounds the positives' share (0.4) down to none in both, and early stopping and the
    threshold were judged on negatives alone. The local engine refuses that; so does Dask now,
    from the labels alone, before any worker starts."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("a LocalCluster was started for a table it cannot validate on")

    monkeypatch.setattr(distributed, "LocalCluster", started)
    label = PARAMS_ALL.data.label
    frame = generate(30, 3)
    frame[label] = [1 if row in (0, 7, 15, 22) else 0 for row in range(30)]
    table = tmp_path / "rare.parquet"
    write_frame(frame, table)
    expected = (
        r"^train.engine dask, train.valid_size 0.2 of 2 partition\(s\): the validation part \(6 rows\) "
        r"has no rows of class \['1'\]; early stopping \(and a binary threshold\) is judged on it: add rows "
        r"of that class, raise train\.valid_size, or use fewer partitions \(train\.dask\.partition_rows\)$"
    )
    with pytest.raises(SplitError, match=expected):
        train_dask.train(table, label, _train(), examples=PARAMS_ALL.validate_.max_failure_examples)
