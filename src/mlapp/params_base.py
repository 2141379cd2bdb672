"""The base of every ``params.yaml`` section and the names sections share.

Kept apart so the section modules (``mlapp.params_data``, ``params_train``, ``params_monitor``,
``params_release``) import it without importing each other; ``mlapp.params`` re-exports everything.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)


class Quoted(str):
    """Text the file writes in quotes (``"60"``, ``'None'``): ``mlapp.params`` reads a quoted scalar
    as this, so a check can tell it from the same text written plain (``None``), which YAML also
    reads as text. pydantic turns it into a plain ``str`` once validated."""


def _members(annotation: object) -> list[object]:
    """The types a setting's annotation admits: ``Annotated`` and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _number_as_text(value: object, annotation: object) -> str | None:
    """Text Python reads as a number where the setting (or an entry of its list or mapping) takes a
    number and no text: pydantic would read it as the number, YAML and DVC read text. Quoted
    ("60"), or a spelling YAML 1.2 reads as text (.1e0: a leading dot wants a signed exponent)."""
    if isinstance(value, dict | list | tuple):
        inner = [get_args(m) for m in _members(annotation) if get_origin(m) in (dict, list, tuple)]
        if not inner:
            return None
        item = inner[0][-1] if isinstance(value, dict) else inner[0][0]  # tuple[float, float]: float
        entries = value.values() if isinstance(value, dict) else value
        return next((found for entry in entries if (found := _number_as_text(entry, item))), None)
    if not isinstance(value, str) or _takes_text(annotation):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    kinds = {get_origin(m) or m for m in _members(annotation)}
    return value if math.isfinite(number) and kinds & {int, float} else None


def _not_a_number(text: str) -> str:
    """Why a number written as text is refused, and the number to write."""
    if isinstance(text, Quoted):
        return f"'{text.strip()}' is quoted, so text to YAML: write {text.strip()} without quotes"
    number = float(text)
    return (
        f"{text} is text to YAML 1.2, as DVC reads it (`dvc params diff` shows it so), not a number: "
        f"write {int(number) if number.is_integer() else number}"
    )


def _not_a_yes_no(value: object) -> str | None:
    """Why a value where a yes/no goes is refused: pydantic read yes, on, 1 and "true" as true,
    YAML 1.2 and DVC read text (or a number), so mlapp and `dvc params diff` said different things."""
    if isinstance(value, bool) or value is None:
        return None
    said = str(value).strip().lower()
    fix = "true" if said in _TRUE else "false" if said in _FALSE else "true or false"
    what = "a number" if isinstance(value, int | float) else "text to YAML 1.2, as DVC reads it"
    return f"{value} is {what}, not a yes/no (only true and false are): write {fix}"


_TRUE = {"yes", "y", "on", "true", "t", "1"}
_FALSE = {"no", "n", "off", "false", "f", "0"}


def _takes_text(annotation: object) -> bool:
    return any(member in (str, Path) for member in _members(annotation))


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
        # Quoted, it is text that may be meant: a column named None (a setting that takes text).
        if (
            isinstance(value, str)
            and value.strip().lower() == "none"
            and type(None) in get_args(annotation)
            and not (isinstance(value, Quoted) and _takes_text(annotation))
        ):
            raise ValueError(f"{value!r} is text to YAML, not its null (Python spells it None): write null")
        # `timeout_s: "60"` (and `.1e0`) was read as a number by pydantic: a second spelling of
        # every number, which `dvc params diff` and `dvc exp show` show as text.
        if text := _number_as_text(value, annotation):
            raise ValueError(_not_a_number(text))
        if annotation is bool and (problem := _not_a_yes_no(value)):
            raise ValueError(problem)
        if isinstance(value, bool) and annotation is not bool and bool not in get_args(annotation):
            raise ValueError(
                f"{str(value).lower()} is a yes/no, not the number or text this setting takes (YAML reads "
                "true and false as one: quote a name spelt so)"
            )
        return value


Task = Literal["binary", "multiclass", "regression"]

# Upper bounds of the settings in seconds (a timeout, a poll): past its bound a value is a typo,
# not a wait (1e9 s is 31 years: a lost worker or a stalled rollout would hold its job for good),
# and a wait longer than what runs it never ends anything (GitHub stops a hosted job at 6 h).
HOUR = 3_600
DAY = 24 * HOUR
CI_JOB = 6 * HOUR

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
    "f1_macro", "f1_weighted", "rmse", "mae", "r2", "rmsle",
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
Tolerance = Annotated[
    Annotated[float, Field(allow_inf_nan=True)] | Annotated[str, Field(description="a share such as '2%'")],
    AfterValidator(_number_or_share),
]
