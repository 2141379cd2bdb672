"""A dead worker's gauge files leave the metrics folder, its counts stay; its temporary folder goes
(reaped.py)."""

from __future__ import annotations

from pathlib import Path

from mlapp.serving.reaped import forget_dead, forget_dead_temp

DEAD, LIVE = 4001, 4002
KINDS = ("counter", "histogram", "gauge_all", "gauge_livesum", "gauge_liveall", "gauge_max")


def test_only_the_dead_workers_live_and_per_pid_gauges_are_removed(tmp_path: Path) -> None:
    for pid in (DEAD, LIVE):
        for kind in KINDS:
            (tmp_path / f"{kind}_{pid}.db").write_bytes(b"")
    assert forget_dead(tmp_path, is_alive=lambda pid: pid == LIVE) == [DEAD]
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {f"{kind}_{LIVE}.db" for kind in KINDS} | {
        f"counter_{DEAD}.db",  # totals must not go down
        f"histogram_{DEAD}.db",
        f"gauge_max_{DEAD}.db",  # the model's info: the same value in every worker
    }
    assert forget_dead(tmp_path, is_alive=lambda pid: pid == LIVE) == [DEAD]  # again: nothing else goes
    assert {p.name for p in tmp_path.iterdir()} == left


def test_only_the_dead_workers_temporary_folder_is_removed(tmp_path: Path) -> None:
    for pid in (DEAD, LIVE):
        (tmp_path / str(pid) / "bentoml-client-x").mkdir(parents=True)
    (tmp_path / "other").mkdir()  # not a worker's: left alone
    assert forget_dead_temp(tmp_path, is_alive=lambda pid: pid == LIVE) == [DEAD]
    assert sorted(p.name for p in tmp_path.iterdir()) == [str(LIVE), "other"]
