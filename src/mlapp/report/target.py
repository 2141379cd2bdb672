"""What a model predicts: its task, label column and classes. Models predicting different things
are not compared (``compare.same_task``), and the base's is written in its params.yaml, so
``mlapp report run`` refuses a PR of another task or classes from that file before restoring or
rebuilding the base's model (3 min 22 s under load). Not one whose label column has another
name: only the base's test rows tell a renamed column from another one (``rows.renamed_label``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlapp.cell_text import class_text
from mlapp.errors import ParamsError
from mlapp.model import Model
from mlapp.params import read_params_text

TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Target:
    task: str
    label: str
    classes: list[str] | None  # in the model's order; None: not known before training


def of_model(model: Model) -> Target:
    return Target(model.task, model.spec.label, model.spec.classes)


def _classes(task: str, declared: Any) -> list[str] | None:
    """The classes train gives the model: data.classes as declared (as text), [] for regression;
    None when they come from the labels (null) or the value is none train would take."""
    if task == "regression":
        return []
    if not isinstance(declared, list) or not declared:
        return None
    if any(isinstance(c, bool) or not isinstance(c, str | int | float) for c in declared):
        return None  # refused by the params check: the base's own run stops on it
    return [class_text(c) for c in declared]


def of_params(text: str | None) -> Target | None:
    """The target a model trained by these params has; None when the file does not say it plainly
    (absent, unreadable, no ``task:``: an older base), which leaves the decision to the model."""
    try:
        raw = read_params_text(text) if text is not None else None
    except ParamsError:
        return None
    if not isinstance(raw, dict) or not isinstance(data := raw.get("data"), dict):
        return None
    task, label = raw.get("task"), data.get("label")
    if task not in TASKS or not isinstance(label, str):
        return None
    return Target(task, label, _classes(task, data.get("classes")))


def mismatch(base: Target, pr: Target) -> str | None:
    """Why a model of ``base`` cannot be compared with one of ``pr``; None when it can (classes
    in another order of a multiclass model are reordered). Unknown classes are not judged."""
    if base.task != pr.task:
        return (
            f"the base model is a {base.task} model and the PR's a {pr.task} model: a report compares "
            "models of one task (compare the PR with a base of the same task)"
        )
    if base.label != pr.label:  # same task and classes, another target: the deltas would be noise
        return (
            f"the label changed (base {base.label!r}, PR {pr.label!r}: data.label): the base "
            "model predicts another column, so its scores against the PR's labels compare nothing"
        )
    if base.classes is None or pr.classes is None or base.classes == pr.classes:
        return None
    if sorted(base.classes) != sorted(pr.classes):
        return f"the base model's classes {base.classes} are not the PR's {pr.classes}"
    if base.task == "binary":  # its scores are P(its second class): another class than the PR's
        return (
            f"the positive class changed (base {base.classes[1]!r}, PR {pr.classes[1]!r}: "
            "data.classes): the two models' scores and thresholds mean different things"
        )
    return None
