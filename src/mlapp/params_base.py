"""The base of every ``params.yaml`` section and the names sections share.

Kept apart so the section modules (``mlapp.params_data``, ``params_train``, ``params_monitor``,
``params_release``) import it without importing each other; ``mlapp.params`` re-exports everything.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)


class Section(BaseModel):
    # No .inf or .nan in any number: a learning_rate of .inf trained one tree and exited 0.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _written_as_meant(cls, value: object, info: ValidationInfo) -> object:
        # `key: ""` or `key:` with quotes left: a path '' is the repository root (DVC stopped with
        # "unexpected error"), an MLflow experiment '' failed at evaluate, after train had run.
        if value == "":
            raise ValueError("empty (''): give it a value, or null where the setting may be left out")
        # pydantic reads true as 1: `subsample: true` trained on every row, `n_estimators: yes` one tree.
        annotation = cls.model_fields[str(info.field_name)].annotation
        # Python's spelling of "no value" is text to YAML: `id_column: None` looked for a column
        # named None, `scheduler: None` dialled a host "None", `repo_url: None` was written into
        # Argo CD's Applications as the git URL.
        if isinstance(value, str) and value.strip().lower() == "none" and type(None) in get_args(annotation):
            raise ValueError(f"{value!r} is text to YAML, not its null (Python spells it None): write null")
        if isinstance(value, bool) and annotation is not bool and bool not in get_args(annotation):
            raise ValueError(
                f"{str(value).lower()} is a yes/no, not the number or text this setting takes (YAML reads "
                "true, yes, on as one: quote a name spelt so)"
            )
        return value


Task = Literal["binary", "multiclass", "regression"]

# numpy's, scikit-learn's and Optuna's seeds are 0 to 2**32 - 1: train.seed -1 stopped train with
# numpy's traceback, tune.seed -1 the search.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def _one_column(value: object) -> object:
    if isinstance(value, list):  # a multi-output table's targets: the model predicts one
        raise ValueError(
            f"{value}: the model predicts one column: pick one and list the others in data.ignore_columns"
        )
    return value


OneColumn = Annotated[str, BeforeValidator(_one_column)]  # data.label

# Every headline metric of every task (mlapp.metrics says which task has which, and directions).
MetricName = Literal[
    "roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier",
    "f1_macro", "f1_weighted", "rmse", "mae", "r2",
]  # fmt: skip


def _number_or_share(value: float | str) -> float | str:
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d*)?", value.strip()):  # a quoted number
        return float(value)
    if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%", value):
        raise ValueError(f"{value!r} is neither a number (in the metric's units) nor a share such as '2%'")
    return value


# How far a metric may worsen (gate.max_regression, monitor.decay_tolerance): a number in the
# metric's units, or a share of the value it is compared with, written "2%" (rmse in the tens).
# Kept as written: the report and monitor.json show the setting as the user wrote it.
# Its own check names an infinite or .nan tolerance with the rule it would turn off (mlapp.tolerances).
Tolerance = Annotated[Annotated[float, Field(allow_inf_nan=True)] | str, AfterValidator(_number_or_share)]
