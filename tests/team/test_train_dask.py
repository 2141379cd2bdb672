"""train.engine: dask trains the same kind of model as local, within a stated tolerance.

Tolerance (test-set metrics, same train/test split, 8,000 training rows): |delta roc_auc| <= 0.02
and |delta pr_auc| <= 0.04. Determinism: byte-identical model for the same cluster shape and
partitioning; a different shape gives a different (still within tolerance) model.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from mlapp import model as model_io
from mlapp.errors import UserError
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.serving.local import free_port
from mlapp.stages import train_dask
from mlapp.stages.split import split
from mlapp.stages.train import train
from mlapp.tables import write_frame
from tests.conftest import REPO, copy_project, own_probe_port, running_server, sh
from tests.team.test_dask_cluster_lost import started_cluster

pytestmark = pytest.mark.slow  # Dask clusters: worker processes
PARAMS = load_params(REPO / "params.yaml")
EXAMPLES = PARAMS.validate_.max_failure_examples
ROC_AUC_TOLERANCE = 0.02
PR_AUC_TOLERANCE = 0.04


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dask")
    fit, test = split(generate(10_000, 11), PARAMS.data, PARAMS.split)
    write_frame(fit.reset_index(drop=True), root / "train.parquet")
    write_frame(test.reset_index(drop=True), root / "test.parquet")
    return root / "train.parquet", root / "test.parquet"


def _scores(model: model_io.Model, test_path: Path) -> tuple[float, float]:
    test = pd.read_parquet(test_path)
    proba = model.predict_proba(test)
    y = test[PARAMS.data.label]
    return float(roc_auc_score(y, proba)), float(average_precision_score(y, proba))


def _saved(booster_spec: tuple, path: Path) -> model_io.Model:
    model_io.save(*booster_spec, path)
    return model_io.load(path)


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[str]:
    """A cluster of the params' shape (2 workers x 1 thread), started once for the module: its address.

    Each training without a scheduler starts and stops its own LocalCluster, worker processes
    that import Dask, pandas and XGBoost anew; the tests below that check what is trained, not
    how the cluster starts, share this one instead (``on_cluster``). Same shape, so the same bytes
    as the params' own LocalCluster gives (``dask_model``, which still starts its own). Its
    scheduler runs in its own process, as a user's does: one in this process shares the client's
    event loop, and xgboost.dask's matrix construction waits on that loop and never returns.
    """
    with started_cluster() as procs:
        yield str(procs["address"])


@pytest.fixture
def on_cluster(shared_cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Training in this test runs on ``shared_cluster``, named as a user names a running one."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", shared_cluster)
    return shared_cluster


@pytest.fixture(scope="module")
def dask_model(tables, tmp_path_factory: pytest.TempPathFactory) -> model_io.Model:
    """The params' own Dask training, once for the module (its own LocalCluster start and a fit)."""
    train_path, _ = tables
    return _saved(
        train_dask.train(train_path, PARAMS.data.label, PARAMS.train, examples=EXAMPLES),
        tmp_path_factory.mktemp("a"),
    )


def test_dask_matches_local_within_tolerance_and_repeats_exactly(
    tables, dask_model, on_cluster, tmp_path
) -> None:
    train_path, test_path = tables
    local = _saved(
        train(pd.read_parquet(train_path), PARAMS.data.label, PARAMS.train, examples=EXAMPLES),
        tmp_path / "local",
    )
    dask_a = dask_model
    dask_b = _saved(
        train_dask.train(train_path, PARAMS.data.label, PARAMS.train, examples=EXAMPLES), tmp_path / "b"
    )

    # Same spec (features, category levels, label): serving, report and monitor cannot tell.
    assert (dask_a.spec.features, dask_a.spec.categories) == (local.spec.features, local.spec.categories)
    assert dask_a.spec.best_iteration + 1 == dask_a.booster.num_boosted_rounds()
    local_roc, local_pr = _scores(local, test_path)
    dask_roc, dask_pr = _scores(dask_a, test_path)
    assert abs(dask_roc - local_roc) <= ROC_AUC_TOLERANCE, (dask_roc, local_roc)
    assert abs(dask_pr - local_pr) <= PR_AUC_TOLERANCE, (dask_pr, local_pr)
    # Same data, params and cluster shape (another cluster of it, shared_cluster): the same bytes.
    assert dask_a.sha256 == dask_b.sha256
    # ...but not the local engine's bytes: distributed histograms sum in another order.
    assert dask_a.sha256 != local.sha256


def test_other_partitioning_changes_bytes_not_quality(tables, dask_model, tmp_path) -> None:
    train_path, test_path = tables
    dask = PARAMS.train.dask.model_copy(update={"workers": 1, "partition_rows": 2_000})
    params = PARAMS.train.model_copy(update={"dask": dask})
    base = dask_model
    other = _saved(
        train_dask.train(train_path, PARAMS.data.label, params, examples=EXAMPLES), tmp_path / "other"
    )
    assert other.sha256 != base.sha256
    assert abs(_scores(other, test_path)[0] - _scores(base, test_path)[0]) <= ROC_AUC_TOLERANCE


def test_where_dask_left_the_partitions_changes_nothing(
    tables, dask_model, on_cluster, tmp_path, monkeypatch
) -> None:
    """Under load the scheduler once left every fit partition on one worker and XGBoost failed.

    Replay that placement (every part of each matrix on one worker, the validation rows on
    the other) before the engine pins partitions to workers: same model, same bytes.
    """
    train_path, _ = tables
    pin = train_dask._pin
    seen: list[str] = []

    def raced(matrix, workers: list[str]) -> None:
        held = [part for parts in matrix.worker_map.values() for part in parts]
        matrix.worker_map = defaultdict(list, {workers[len(seen) % len(workers)]: held})
        seen.append("matrix")
        pin(matrix, workers)

    monkeypatch.setattr(train_dask, "_pin", raced)
    raced_model = _saved(
        train_dask.train(train_path, PARAMS.data.label, PARAMS.train, examples=EXAMPLES), tmp_path / "raced"
    )
    assert seen == ["matrix", "matrix"]  # the fit rows and the validation rows
    assert raced_model.sha256 == dask_model.sha256


def test_xgboost_gets_train_dask_timeout_s_for_its_collective_and_tracker(
    tables, on_cluster, monkeypatch
) -> None:
    """Without a tracker timeout XGBoost waits for ever for a worker that never joins: the value
    given to xgboost.dask.train is checked, not a hang (training stops right there)."""
    import xgboost.collective
    from xgboost import dask as dxgb

    class Given(Exception):
        pass

    def captured(*args: object, **kwargs: object) -> None:
        raise Given(kwargs.get("coll_cfg"))

    monkeypatch.setattr(dxgb, "train", captured)
    train_params = PARAMS.train.model_copy(
        update={"dask": PARAMS.train.dask.model_copy(update={"timeout_s": 123})}
    )
    with pytest.raises(Given) as given:
        train_dask.train(tables[0], PARAMS.data.label, train_params, examples=EXAMPLES)
    (config,) = given.value.args
    assert isinstance(config, xgboost.collective.Config)
    assert (config.timeout, config.tracker_timeout) == (123, 123)


def test_scheduler_address_from_the_environment_wins(monkeypatch) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    assert PARAMS.train.dask.resolved_scheduler() == "tcp://127.0.0.1:1"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert PARAMS.train.dask.resolved_scheduler() == PARAMS.train.dask.scheduler


def test_dvc_exp_run_on_dask_serves_and_passes_smoke(trained_project, tmp_path) -> None:
    """The documented command, end to end: experiment on dask, metrics, then the served model."""
    root = copy_project(trained_project, tmp_path / "p")
    local = json.loads((root / PARAMS.evaluate.metrics).read_text())
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    out = sh("dvc", "exp", "run", "-S", "train.engine=dask", cwd=root, env=env).stdout
    assert "(dask)" in out
    dask = json.loads((root / PARAMS.evaluate.metrics).read_text())
    # 2,400 training rows here: a wider band than the 8,000-row comparison above.
    assert abs(dask["roc_auc"] - local["roc_auc"]) <= 2 * ROC_AUC_TOLERANCE, (dask, local)
    port = free_port()
    argv = [sys.executable, "-m", "mlapp", "serving", "serve", "--port", str(port), *own_probe_port()]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}  # the copy's code, as `sh` does
    with running_server(argv, port, root, tmp_path / "serve.log", env=env) as url:
        smoke = sh("mlapp", "serving", "smoke", "--url", url, cwd=root)
    assert "smoke test passed" in smoke.stdout


def test_an_unreachable_scheduler_is_one_error_line(monkeypatch) -> None:
    """Like an unreachable tracking server: the user must start it or fix the address."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")  # nothing listens on port 9
    with (
        pytest.raises(
            UserError, match=r"Dask scheduler tcp://127.0.0.1:9 is not reachable .*DASK_SCHEDULER_ADDRESS"
        ),
        train_dask.client(PARAMS.train.dask.model_copy(update={"connect_timeout_s": 1})),
    ):
        pass


def _head(train_path: Path, rows: int, path: Path) -> Path:
    write_frame(pd.read_parquet(train_path).head(rows), path)
    return path


def test_a_small_table_on_more_workers_trains(tables, tmp_path) -> None:
    """31 rows on 3 workers were cut 11, 11, 9: the 9-row tail held no validation rows out and
    XGBoost failed on its worker's empty matrix. Even lengths (11, 10, 10) train."""
    small = _head(tables[0], 31, tmp_path / "small.parquet")
    params = PARAMS.train.model_copy(update={"dask": PARAMS.train.dask.model_copy(update={"workers": 3})})
    booster, spec = train_dask.train(small, PARAMS.data.label, params, examples=EXAMPLES)
    assert booster.num_boosted_rounds() == spec.best_iteration + 1


def test_a_binary_label_written_as_text_trains_on_dask(tables, dask_model, on_cluster, tmp_path) -> None:
    """UCI's adult table labels "<=50K"/">50K": the Dask engine assumed classes "0"/"1" and
    failed with a traceback ("label 'income' has values the model does not know"). It now
    orders the classes as the local engine does; "no"/"yes" encode as 0/1 did, so the same
    data gives the same trees."""
    train_path, test_path = tables
    frame = pd.read_parquet(train_path)
    label = PARAMS.data.label
    frame[label] = frame[label].astype(str).map({"0": "no", "1": "yes"})
    text = tmp_path / "text.parquet"
    write_frame(frame, text)
    booster, spec = train_dask.train(text, label, PARAMS.train, examples=EXAMPLES)
    assert spec.classes == ["no", "yes"] and spec.task == "binary"
    model = _saved((booster, spec), tmp_path / "m")
    test = pd.read_parquet(test_path)
    assert model.predict_proba(test).tolist() == dask_model.predict_proba(test).tolist()
    _, declared = train_dask.train(text, label, PARAMS.train, classes=["yes", "no"], examples=EXAMPLES)
    assert declared.classes == ["yes", "no"]  # data.classes decides, as for the local engine


def test_float_labels_name_the_classes_as_the_local_engine_does(tables, on_cluster, tmp_path) -> None:
    """Labels 1.0/1.5 are classes "1.0"/"1.5" (not every label is whole). Each partition was
    encoded alone: a partition holding only 1.0 named it "1", and Dask training failed with
    "column 'churned' failed one of the model's classes ['1.0', '1.5']" on that partition."""
    label = PARAMS.data.label
    frame = pd.read_parquet(tables[0]).head(400)
    frame[label] = frame[label].map({0: 1.0, 1: 1.5})
    frame = frame.sort_values(label, kind="stable").reset_index(drop=True)  # the first half all 1.0
    assert frame[label].iloc[:200].eq(1.0).all() and frame[label].nunique() == 2
    floats = tmp_path / "floats.parquet"
    write_frame(frame, floats)
    _, local = train(frame, label, PARAMS.train, examples=EXAMPLES)
    booster, spec = train_dask.train(floats, label, PARAMS.train, examples=EXAMPLES)
    assert spec.classes == local.classes == ["1.0", "1.5"]
    assert booster.num_boosted_rounds() == spec.best_iteration + 1


def test_a_regression_with_outliers_trains_robustly_on_dask(on_cluster, tmp_path) -> None:
    """train.regression_objective reaches xgboost.dask: with a tenth of the training labels off by
    +20,000, the Dask pseudo-Huber and absolute-error models stay near the clean test values,
    where the squared-error one is dragged up (deterministic for this cluster shape)."""
    import json

    import numpy as np

    from tests.pipeline.task_tables import table

    frame = table("regression", 3_000, seed=5)
    fit, clean = frame.iloc[:2_400].copy(), frame.iloc[2_400:]
    fit.loc[np.random.default_rng(5).random(len(fit)) < 0.1, "churned"] += 20_000.0
    write_frame(fit.reset_index(drop=True), tmp_path / "fit.parquet")
    mae = {}
    for loss in ("squarederror", "pseudohubererror", "absoluteerror"):
        params = PARAMS.train.model_copy(update={"regression_objective": loss})
        booster, spec = train_dask.train(
            tmp_path / "fit.parquet", "churned", params, task="regression", examples=EXAMPLES
        )
        assert (spec.task, spec.threshold, spec.classes) == ("regression", None, [])
        assert json.loads(booster.save_config())["learner"]["objective"]["name"] == f"reg:{loss}"
        predicted = model_io.Model(booster, spec, "").scores(clean)
        mae[loss] = float(np.mean(np.abs(predicted - clean["churned"].to_numpy())))
    assert mae["pseudohubererror"] < mae["squarederror"] / 3, mae
    assert mae["absoluteerror"] < mae["squarederror"] / 3, mae


def test_a_positive_skewed_label_trains_with_a_log_link_on_dask(on_cluster, tmp_path) -> None:
    """tweedie and gamma reach xgboost.dask with their own metric (and tweedie its power), and
    predict on the label's scale: positive, within the labels' range."""
    import numpy as np

    from tests.pipeline.task_tables import table

    frame = table("regression", 1_200, seed=4)
    noise = np.random.default_rng(4).normal(0, 0.8, len(frame))
    frame["churned"] = np.exp(7 + frame["monthly_charges"] * 0.03 + noise)
    write_frame(frame.reset_index(drop=True), tmp_path / "fit.parquet")
    for loss, metric in (("tweedie", "tweedie-nloglik@1.5"), ("gamma", "gamma-nloglik")):
        params = PARAMS.train.model_copy(update={"regression_objective": loss})
        booster, spec = train_dask.train(
            tmp_path / "fit.parquet", "churned", params, task="regression", examples=EXAMPLES
        )
        learner = json.loads(booster.save_config())["learner"]
        assert learner["objective"]["name"] == f"reg:{loss}"
        assert [m["name"] for m in learner["metrics"]] == [metric]
        predicted = model_io.Model(booster, spec, "").scores(frame)
        assert predicted.min() > 0 and np.median(predicted) < frame["churned"].max(), loss


@pytest.mark.parametrize("classes", [3, 2])
def test_a_multiclass_label_trains_on_dask(on_cluster, tmp_path, classes) -> None:
    """The native train xgboost.dask runs needs num_class for multi:softprob, which XGBoost's local
    classifier sets itself (for three classes or more): Dask multiclass stopped with "value 0 for
    Parameter num_class should be greater equal to 1"."""
    from tests.pipeline.task_tables import table

    frame = table("multiclass", 1_200, seed=5)
    if classes == 2:
        frame["churned"] = frame["churned"].replace({"silver": "gold"})
    write_frame(frame, tmp_path / "fit.parquet")
    booster, spec = train_dask.train(
        tmp_path / "fit.parquet", "churned", PARAMS.train, task="multiclass", examples=EXAMPLES
    )
    assert len(spec.classes) == classes
    assert model_io.Model(booster, spec, "").scores(frame).shape == (len(frame), classes)


def test_whole_groups_are_held_out_on_dask(tables, on_cluster, tmp_path) -> None:
    """data.group_column: the validation rows are the local engine's whole groups, spread over the
    partitions (households of 4 rows apart in the file); the model trains on every worker."""
    frame = pd.read_parquet(tables[0]).head(2_000)
    panel = tmp_path / "panel.parquet"
    write_frame(frame.assign(household=[f"H{n % 500}" for n in range(len(frame))]), panel)
    booster, spec = train_dask.train(
        panel, PARAMS.data.label, PARAMS.train, examples=EXAMPLES, group="household"
    )
    assert booster.num_boosted_rounds() == spec.best_iteration + 1 and spec.threshold is not None
