"""Table-level checks of the validate stage: column roles, missing-value shares, the null overrides
(the label's own checks are ``label_checks``).

Per-value rules live in the schema (pandera); these look at whole columns, which a
row-by-row rule cannot: an entirely empty feature.
"""

from __future__ import annotations

from typing import Any

from mlapp.errors import ParamsError
from mlapp.params import DataParams, Params
from mlapp.problem_row import Problem
from mlapp.schema import FEATURES


def optional_columns(data: DataParams) -> dict[str | None, str]:
    """The id, time and group columns (None where unset), each to its setting (``DataParams.parts``)."""
    return {column: f"data.{setting}" for setting, column in data.parts.items() if setting != "label"}


def column_roles(names: list[Any], data: DataParams) -> str:
    """Where each of ``names`` (columns the file lacks) is required: a setting or the schema."""
    settings = {data.label: "data.label", **optional_columns(data)}
    # id, time and group columns are optional: `id_column: no` is the text 'no' to YAML 1.2 (DVC's
    # reading), not "none", so the line says how to write none.
    optional = set(optional_columns(data)) - {None, data.label}
    roles = [
        f"{name!r} is {settings[name]} in params.yaml"
        + ("; if the table has none, write null" if name in optional else "")
        if name in settings
        else f"{name!r} is a feature in FEATURES"
        for name in names
    ]
    # A feature the file lost (an upstream export dropped it): the model cannot have it any more.
    schema = (
        ", src/mlapp/schema.py; if the data no longer has it, remove it there"
        if any(name not in settings for name in names)
        else ""
    )
    return f" ({'; '.join(roles)}{schema})"


def check_null_overrides(params: Params) -> None:
    """A ``validate.max_null_share_by_column`` name that is no column checked for missing values:
    a typo would leave the column it meant under ``max_null_share``, unannounced (the monitor
    refuses an unknown ``monitor.psi_by_feature`` name so)."""
    data = params.data
    checked = {*FEATURES, *optional_columns(data)}
    if unknown := sorted(set(params.validate_.max_null_share_by_column) - checked):
        # Each setting with its value: a group column left null (or another column named) is the cause.
        keys = [
            f"data.{s} ({'null' if c is None else repr(c)})" for s, c in data.parts.items() if s != "label"
        ]
        raise ParamsError(
            f"validate.max_null_share_by_column names {unknown}: not a feature in FEATURES "
            f"(src/mlapp/schema.py) nor the column of {', '.join(keys[:-1])} or {keys[-1]}, so it would "
            "override nothing: name one of those, or set the data setting whose column it is (the label's "
            "missing values follow data.missing_label; ignored columns are not checked)"
        )


def null_problems(missing: dict[str, int], rows: int, params: Params) -> list[Problem]:
    """Columns missing more values than allowed; an entirely empty column always fails.

    ``missing``: missing values per column present in the table (schema order), over ``rows`` rows.
    """
    settings = params.validate_
    problems = []
    for name, count in missing.items():
        if name == params.data.label or not rows:
            continue  # the label has its own policy
        allowed = settings.max_null_share_by_column.get(name, settings.max_null_share)
        if count == rows:
            check = f"not entirely empty (all {count} values missing; {_empty(name, params.data)})"
            problems.append(Problem(name, check, count))
        elif count / rows > allowed:
            where = (
                f"validate.max_null_share_by_column.{name}"
                if name in settings.max_null_share_by_column
                else "validate.max_null_share"
            )
            check = f"at most {allowed:.0%} missing ({count / rows:.1%} missing; {where})"
            problems.append(Problem(name, check, count))
    return problems


def _empty(name: str, data: DataParams) -> str:
    """What to do with a column holding nothing: leave it out (it cannot teach the model)."""
    if setting := optional_columns(data).get(name):
        return f"set {setting}: null in params.yaml, or fill the column"
    return (
        "nothing to learn from: remove it from FEATURES (src/mlapp/schema.py) and list it in "
        "data.ignore_columns (params.yaml), or fill the column"
    )
