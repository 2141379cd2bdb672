"""``params.yaml`` sections of model fitting: train (XGBoost, Dask), tune, evaluate and mlflow.

Import them from ``mlapp.params`` like every other section (it re-exports them).
"""

from __future__ import annotations

import operator
import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from mlapp.params_base import DAY, HOUR, MetricName, Section, Seed

# XGBoost's integer parameters are C ints: max_depth 2**31 stopped train with "expect int"; 1e40
# got pydantic's "exceeded maximum size" without the range, and a tune.space reaching it passed.
XGBOOST_INT_MAX = 2**31 - 1


class XGBoostParams(Section):
    n_estimators: int = Field(gt=0, le=XGBOOST_INT_MAX)
    max_depth: int = Field(ge=1, le=XGBOOST_INT_MAX)
    # XGBoost's documented range is (0, 1], and it enforces none: 5 (for 0.05, or 5%) trained one
    # tree and exited 0 with roc_auc 0.72 instead of 0.77
    learning_rate: float = Field(gt=0, le=1)
    subsample: float = Field(gt=0, le=1)
    colsample_bytree: float = Field(gt=0, le=1)
    min_child_weight: float = Field(ge=0)
    reg_lambda: float = Field(ge=0)
    max_cat_to_onehot: int = Field(ge=1)
    tree_method: Literal["hist", "approx"]
    device: str
    n_jobs: int = Field(ge=1)

    @field_validator("tree_method", mode="before")
    @classmethod
    def _not_exact(cls, value: object) -> object:
        # XGBoost's exact method trains no categorical feature, on no Dask cluster and no GPU: it
        # failed at the train stage with XGBoost's traceback, after validate and split had run.
        if value == "exact":
            raise ValueError(
                "exact trains no categorical feature (FEATURES' categories), on no Dask cluster and no "
                "GPU: use hist (XGBoost's default) or approx"
            )
        return value


class DaskParams(Section):
    scheduler: str | None  # address of a running cluster; None: a LocalCluster on this machine
    workers: int = Field(ge=1)
    threads_per_worker: int = Field(ge=1)
    partition_rows: int = Field(ge=1)
    # XGBoost's collective timeout and its tracker's, in whole seconds (xgboost.collective.Config
    # takes ints); 0 would be the tracker's "wait for ever", the hang this bound is for
    timeout_s: int = Field(ge=1, le=DAY)
    # Dask's client's wait for the scheduler: to answer its connection (after a TCP check, so a
    # slow scheduler, not a refused port), for a first worker to join, and, lost mid-stage, to
    # come back before the stage fails (the training is cancelled by then either way)
    connect_timeout_s: float = Field(gt=0, le=HOUR)

    def resolved_scheduler(self) -> str | None:
        """Dask's own variable wins, so CI targets a cluster without editing params.yaml."""
        return os.environ.get("DASK_SCHEDULER_ADDRESS") or self.scheduler


class TrainParams(Section):
    model_dir: Path
    engine: Literal["local", "dask"]
    dask: DaskParams
    seed: Seed
    valid_size: float = Field(gt=0, lt=1)
    early_stopping_rounds: int = Field(ge=1)
    threshold_metric: Literal["f1", "fixed"]
    fixed_threshold: float = Field(gt=0, lt=1)
    # task regression: the loss XGBoost minimises (early stopping watches the matching metric);
    # the robust ones keep a few huge labels from pulling every prediction towards them; tweedie
    # (label >= 0) and gamma (label > 0) fit log(label) for a positive, skewed one (prices, claims)
    regression_objective: Literal["squarederror", "pseudohubererror", "absoluteerror", "tweedie", "gamma"]
    huber_slope: float = Field(gt=0)  # pseudohubererror: where the loss turns linear, in the label's units
    tweedie_variance_power: float = Field(gt=1, lt=2)  # tweedie only: XGBoost's range (1 Poisson, 2 gamma)
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
# tune.space's other names: a setting of train itself, the loss's own (mlapp.params: searched only
# when train.regression_objective is tweedie, the one loss it shapes).
TunableTrain = Literal["tweedie_variance_power"]
TRAIN_OWN: tuple[str, ...] = get_args(TunableTrain)  # tune.space names set in train, not train.xgboost
# One Literal, not a union: a misspelt name is then one error listing every name (a union was two).
Tunable = Literal[TunableXGBoost, TunableTrain]


def tuned_setting(name: str) -> str:
    """The setting a tune.space name searches: train.<name> (the loss's), else train.xgboost.<name>."""
    return f"train.{name}" if name in TRAIN_OWN else f"train.xgboost.{name}"


# Searched on a log scale (mlapp.tune): their effect is multiplicative. A log scale has no 0.
LOG_SCALE = frozenset({"learning_rate", "reg_lambda", "min_child_weight"})
_LIMITS = (("gt", operator.gt), ("ge", operator.ge), ("lt", operator.lt), ("le", operator.le))


def _limit_broken(value: float, limits: list[Any]) -> bool:
    """Whether ``value`` breaks one of a field's limits (pydantic's Gt/Ge/Lt/Le metadata)."""
    return any(
        (bound := getattr(limit, attr, None)) is not None and not holds(value, bound)
        for limit in limits
        for attr, holds in _LIMITS
    )


def _space_problem(name: Tunable, low: float, high: float) -> str | None:
    """Why a trial could draw a value its setting (``train.xgboost.<name>``) refuses: the search
    would stop mid-way with XGBoost's error, or write into params.yaml a value that file then refuses."""
    setting = tuned_setting(name)
    field = (TrainParams if name in TRAIN_OWN else XGBoostParams).model_fields[name]
    whole = field.annotation is int  # mlapp.tune draws whole numbers from int(low) to int(high)
    for bound in (low, high):
        if _limit_broken(int(bound) if whole else bound, field.metadata):
            from mlapp.params_words import Allowed, allowed_at, must_be  # only a refused file's words

            allowed = allowed_at(TrainParams, setting.split(".")[1:]) or Allowed()
            return (  # .15g: 2147483648 whole, 1e+40 short
                f"tune.space.{name}: [{low:.15g}, {high:.15g}] reaches {bound:.15g}, which {setting} "
                f"refuses ({must_be(f'{bound:.15g}', allowed)}): keep the range inside it"
            )
    if name in LOG_SCALE and low <= 0:
        return (
            f"tune.space.{name}: [{low:g}, {high:g}] starts at {low:g}, but {name} is searched on a log "
            "scale, which starts above 0: set the low end to a small positive number (e.g. 0.001)"
        )
    return None


class TuneParams(Section):
    trials: int = Field(ge=1)
    timeout_s: float = Field(gt=0, le=7 * DAY)  # no new trial starts after this
    seed: Seed
    metric: MetricName  # of the task; scored on the validation rows of the training part, never on test
    space: dict[Tunable, tuple[float, float]]  # train.xgboost.<name> (or train.<name>): [low, high]

    @model_validator(mode="after")
    def _ranges(self) -> TuneParams:
        empty = [name for name, (low, high) in self.space.items() if not low < high]
        if empty or not self.space:
            raise ValueError(f"tune.space needs at least one [low, high] range with low < high: {empty}")
        problems = [_space_problem(name, low, high) for name, (low, high) in self.space.items()]
        if found := [problem for problem in problems if problem]:
            raise ValueError("\n  - ".join(found))
        return self


class EvaluateParams(Section):
    metrics: Path
    plots_dir: Path
    curve_points: int = Field(ge=2)
    calibration_bins: int = Field(ge=2)
    scatter_points: int = Field(ge=2)  # regression: test rows in the predicted-vs-actual plot
    residual_bins: int = Field(ge=2)  # regression: bars of the residual histogram


MODEL_NAME_MAX = 256  # MLflow's registered_models.name column


class MlflowParams(Section):
    tracking_uri: str
    experiment: str
    model_name: str

    @field_validator("model_name")
    @classmethod
    def _registrable(cls, name: str) -> str:
        # MLflow refuses '/', ':', a blank name and one a file path would resolve elsewhere ('.',
        # '..x': its _validate_model_name, not imported here: 2.5 s) only after a run is logged;
        # a server's database refuses over 256 characters (its column; sqlite does not check). Its
        # search filters have no escapes: a name is quoted with the quote it lacks, so not both.
        shown = f"{name[:40]!r}{'…' if len(name) > 40 else ''}"
        if len(name) > MODEL_NAME_MAX:  # its length, or one shortens it by guesswork
            raise ValueError(
                f"{shown} is {len(name)} characters, the server allows at most {MODEL_NAME_MAX} "
                "(MLflow's registered-model name column)"
            )
        if (
            not name.strip()
            or any(c in name for c in "/:")
            or {"'", '"'} <= set(name)
            or name == "."
            or name.startswith("..")
        ):
            raise ValueError(
                f"{shown}: MLflow needs a name of at most {MODEL_NAME_MAX} characters, without '/', "
                "':' or both quotes, not '.' nor starting with '..'"
            )
        return name

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
