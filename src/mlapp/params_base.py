"""The base of every ``params.yaml`` section and the names sections share.

Kept apart so the section modules (``mlapp.params``, ``mlapp.params_release``) import it
without importing each other; ``mlapp.params`` re-exports everything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Task = Literal["binary", "multiclass", "regression"]

# Every headline metric of every task (mlapp.metrics says which task has which, and directions).
MetricName = Literal[
    "roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier",
    "f1_macro", "f1_weighted", "rmse", "mae", "r2",
]  # fmt: skip
