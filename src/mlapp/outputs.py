"""The columns a model's scores are written as: one list for the MLflow model's response
fields (``Model.outputs``), the batch scorer's file (``mlapp serving score``) and the checks
that name a clash with them before a model is trained (validate, ``mlapp template schema``)."""

from __future__ import annotations

from collections.abc import Sequence


def response_fields(task: str, classes: Sequence[str]) -> list[str]:
    """binary: probability, label; multiclass: label, one probability column per class;
    regression: prediction."""
    if task == "regression":
        return ["prediction"]
    if task == "binary":
        return ["probability", "label"]
    return ["label", *(f"probability_{c}" for c in classes)]


def scored_columns(task: str, classes: Sequence[str]) -> list[str]:
    """What the batch scorer writes per row, besides the id column it copies from the input."""
    return ["row", *response_fields(task, classes), "model_version"]


def id_clash(id_column: str | None, task: str, classes: Sequence[str]) -> str | None:
    """Why the batch scorer refuses every file for this ``data.id_column`` (None: it does not).
    The id is copied into the output next to the scored columns: a name shared with one of them
    would overwrite its values or be overwritten."""
    written = scored_columns(task, classes)
    if id_column not in written:
        return None
    return (
        f"the batch scorer writes a column of that name ({', '.join(written)}), so `mlapp serving "
        "score` would refuse every file for the model; rename the column in the export and "
        "data.id_column (params.yaml)"
    )


def float_id_rule(id_column: str) -> str:
    """Why validate, the monitor and the batch scorer refuse an id stored as floating point: pandas
    writes whole numbers with a gap as float64, so the team's 7 is 7.0 in the file, read as the
    text "7.0" (an id is read as written) and joining no "7" back to its source."""
    return (
        f"an id stored as floating point, 7 written as 7.0: write {id_column} as integers (pandas: "
        f"frame[{id_column!r}].astype('Int64')) or as text"
    )
