"""``params.yaml`` sections of model fitting: train (XGBoost, Dask), tune, evaluate and mlflow.

Import them from ``mlapp.params`` like every other section (it re-exports them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mlapp.params_base import MetricName, Section


class XGBoostParams(Section):
    n_estimators: int = Field(gt=0)
    max_depth: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    subsample: float = Field(gt=0, le=1)
    colsample_bytree: float = Field(gt=0, le=1)
    min_child_weight: float = Field(ge=0)
    reg_lambda: float = Field(ge=0)
    max_cat_to_onehot: int = Field(ge=1)
    tree_method: Literal["hist", "approx", "exact"]
    device: str
    n_jobs: int = Field(ge=1)


class DaskParams(Section):
    scheduler: str | None  # address of a running cluster; None: a LocalCluster on this machine
    workers: int = Field(ge=1)
    threads_per_worker: int = Field(ge=1)
    partition_rows: int = Field(ge=1)
    # XGBoost's collective timeout and its tracker's, in whole seconds (xgboost.collective.Config
    # takes ints); 0 would be the tracker's "wait for ever", the hang this bound is for
    timeout_s: int = Field(ge=1)

    def resolved_scheduler(self) -> str | None:
        """Dask's own variable wins, so CI targets a cluster without editing params.yaml."""
        return os.environ.get("DASK_SCHEDULER_ADDRESS") or self.scheduler


class TrainParams(Section):
    model_dir: Path
    engine: Literal["local", "dask"]
    dask: DaskParams
    seed: int
    valid_size: float = Field(gt=0, lt=1)
    early_stopping_rounds: int = Field(ge=1)
    threshold_metric: Literal["f1", "fixed"]
    fixed_threshold: float = Field(gt=0, lt=1)
    # task regression: the loss XGBoost minimises (early stopping watches the matching metric);
    # the robust ones keep a few huge labels from pulling every prediction towards them
    regression_objective: Literal["squarederror", "pseudohubererror", "absoluteerror"]
    huber_slope: float = Field(gt=0)  # pseudohubererror: where the loss turns linear, in the label's units
    xgboost: XGBoostParams


TunableXGBoost = Literal[
    "n_estimators",
    "max_depth",
    "learning_rate",
    "subsample",
    "colsample_bytree",
    "min_child_weight",
    "reg_lambda",
]


class TuneParams(Section):
    trials: int = Field(ge=1)
    timeout_s: float = Field(gt=0)  # no new trial starts after this
    seed: int
    metric: MetricName  # of the task; scored on the validation rows of the training part, never on test
    space: dict[TunableXGBoost, tuple[float, float]]  # train.xgboost.<name>: [low, high]

    @model_validator(mode="after")
    def _ranges(self) -> TuneParams:
        empty = [name for name, (low, high) in self.space.items() if not low < high]
        if empty or not self.space:
            raise ValueError(f"tune.space needs at least one [low, high] range with low < high: {empty}")
        return self


class EvaluateParams(Section):
    metrics: Path
    plots_dir: Path
    curve_points: int = Field(ge=2)
    calibration_bins: int = Field(ge=2)
    scatter_points: int = Field(ge=2)  # regression: test rows in the predicted-vs-actual plot
    residual_bins: int = Field(ge=2)  # regression: bars of the residual histogram


class MlflowParams(Section):
    tracking_uri: str
    experiment: str
    model_name: str

    def resolved_tracking_uri(self) -> str:
        """The environment wins so CI and teams point at a server without editing the file.

        A relative sqlite path is the project's file: DVC runs queued and parallel experiments
        in a temporary copy of the repository (thrown away afterwards) and names the project
        it came from in ``DVC_ROOT``, so ``sqlite:///mlflow.db`` is anchored there.
        """
        uri = os.environ.get("MLFLOW_TRACKING_URI") or self.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/") and os.environ.get("DVC_ROOT"):
            return prefix + str(Path(os.environ["DVC_ROOT"]).resolve() / uri.removeprefix(prefix))
        return uri
