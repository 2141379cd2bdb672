"""The model artifact: an XGBoost booster in its native format plus a JSON spec.

Nothing here unpickles: the booster is XGBoost's own UBJSON, and everything needed
to turn a table into model input (feature order, category levels, threshold) is
plain JSON. Training, evaluation, the report and the service all use this module.

The spec also holds the task and the class names in their order: class ``i`` is column
``i`` of the probabilities, and for binary the second class is the positive one. Labels
reach the model as class indices (``ModelSpec.encode``), whatever their type in the table.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlapp.address_space import XGBOOST_ROOM, ensure_room
from mlapp.errors import UserError, not_built
from mlapp.files import json_text, replacing_folder
from mlapp.labels import label_text
from mlapp.outputs import response_fields
from mlapp.problems import problem

if TYPE_CHECKING:  # imported where a booster is read or run: ~1.5 s (with scikit-learn) that the
    import xgboost as xgb  # commands needing only the spec or the file names (monitor, lineage) skip

# A class name answered as a JSON number: an integer as JSON writes it, within int64 (orjson writes no
# larger). "01" (a code) is not: as 1 it would match no key of the answer's probabilities, /metadata's
# classes or the file's labels, which keep the name's text.
INTEGER_NAME = re.compile(r"-?(0|[1-9][0-9]*)")
MODEL_FILE = "model.ubj"
SPEC_FILE = "model_spec.json"


@dataclass(frozen=True)
class ModelSpec:
    features: list[str]
    categories: dict[str, list[str]]
    label: str
    threshold: float | None  # binary only: P(positive) at or above it predicts the positive class
    best_iteration: int
    # Specs written before tasks existed are binary 0/1 models (a base branch's champion).
    task: str = "binary"
    classes: list[str] = field(default_factory=lambda: ["0", "1"])

    @property
    def cutoff(self) -> float:
        """The binary decision threshold (0.5 where a spec has none)."""
        return 0.5 if self.threshold is None else self.threshold

    def encode(self, labels: pd.Series, *, examples: int) -> np.ndarray:
        """Labels as the model sees them: class indices, or float values for regression.
        ``UnknownLabels`` names those it has no class (or number) for, with their rows: at most
        ``examples`` of each (validate.max_failure_examples, as validate names a value)."""
        if self.task == "regression":
            values = pd.to_numeric(labels, errors="coerce")
            if (bad := values.isna() & labels.notna()).any():
                raise UnknownLabels(labels[bad], "parse as a number (a regression model's label)", examples)
            return values.to_numpy(dtype=np.float64)
        text = label_text(labels)
        # Already text: ``unknown`` would read the text 1.0 again, as class 1 (not class "1.0").
        if (unknown := ~text.isin(self.classes)).any():  # a missing label is none of the classes either
            raise UnknownLabels(labels[unknown], f"one of the model's classes {self.classes}", examples)
        return text.map({name: i for i, name in enumerate(self.classes)}).to_numpy(dtype=np.int64)

    def unknown(self, labels: pd.Series) -> pd.Series:
        """Which class labels are none of the model's classes (a missing one included): the
        rows ``encode`` refuses, for a caller that names them."""
        return ~label_text(labels).isin(self.classes)

    def class_values(self) -> list[str | int]:
        """Class names as responses show them: integer names as numbers (0/1 stays 0/1), others,
        a code such as "01" too, as written (``INTEGER_NAME``)."""
        return [int(c) if INTEGER_NAME.fullmatch(c) and abs(int(c)) < 2**63 else c for c in self.classes]

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Predicted class indices from ``Model.scores`` (classification only)."""
        if self.task == "multiclass":
            return np.argmax(scores, axis=1).astype(np.int64)
        return (scores >= self.cutoff).astype(np.int64)

    def to_matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select and type the features exactly as in training (fixed category levels)."""
        matrix = frame.loc[:, self.features].copy()
        for name, levels in self.categories.items():
            matrix[name] = pd.Categorical(matrix[name], categories=levels)
        for name in matrix.columns:
            if matrix[name].dtype == bool:
                matrix[name] = matrix[name].astype(np.int8)
            elif name not in self.categories and matrix[name].dtype.kind not in "iuf":
                # pandas' nullable boolean, or booleans with None (an MLflow pyfunc input): 1/0/NaN,
                # as the service encodes them
                matrix[name] = pd.to_numeric(matrix[name].astype(object)).astype(np.float32)
        return matrix


@dataclass(frozen=True)
class Model:
    booster: xgb.Booster
    spec: ModelSpec
    sha256: str  # the digest of both files (``model_sha256``)

    @property
    def version(self) -> str:
        """Content address of the model (booster and spec): equal bytes, equal version."""
        return self.sha256[:12]

    @property
    def task(self) -> str:
        return self.spec.task

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """binary: P(positive class), shape (n,); multiclass: P(class), (n, classes); regression: (n,)."""
        import xgboost as xgb  # lazy: see the module's imports (loaded already: the booster exists)

        data = xgb.DMatrix(self.spec.to_matrix(frame), enable_categorical=True)
        return np.asarray(self.booster.predict(data), dtype=np.float64)

    # The binary name, kept for callers that only serve binary models.
    predict_proba = scores

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class indices (classification) or predicted values (regression)."""
        scores = self.scores(frame)
        return scores if self.task == "regression" else self.spec.decide(scores)

    def outputs(self, scores: np.ndarray) -> pd.DataFrame:
        """Scores as a table of the task's response fields (the MLflow model and batch scoring).

        binary: probability, label; multiclass: label, one probability column per class;
        regression: prediction.
        """
        names = response_fields(self.task, self.spec.classes)  # the batch scorer's columns too
        if self.task == "regression":
            return pd.DataFrame({names[0]: scores})
        labels = np.asarray(self.spec.class_values())[self.spec.decide(scores)]
        values = [scores, labels] if self.task == "binary" else [labels, *scores.T]
        return pd.DataFrame(dict(zip(names, values, strict=True)))

    @cached_property
    def size_bytes(self) -> int:
        return len(self.booster.save_raw("ubj"))


def save(booster: xgb.Booster, spec: ModelSpec, model_dir: Path) -> None:
    """Both files written into a folder beside ``model_dir``, then swapped in whole
    (``files.replacing_folder``): train's output is persistent (DVC does not delete it first), so
    a run that fails or is interrupted keeps the previous model. A write that fails (a full or
    read-only disk) is one line naming the folder, and a refused one says what must be writable."""
    refused = (
        f"training writes the new model beside {model_dir} (in {model_dir.parent}) and swaps the "
        "folders, so both must be writable: in a read-only checkout, train in a writable clone, or "
        "give `mlapp pipeline train` a writable --model-dir"
    )
    with replacing_folder(model_dir, refused) as new:
        # Written by Python, not XGBoost's save_model (the same bytes): a full disk is then an
        # OSError, not a C++ backtrace.
        (new / MODEL_FILE).write_bytes(booster.save_raw("ubj"))
        (new / SPEC_FILE).write_text(json_text(asdict(spec)))


class UnknownLabels(UserError, ValueError):
    """Labels a model has no class for: met by evaluate, train or the PR report when the model is
    older than its data (a label relabelled, a class renamed). Said as validate says a value."""

    def __init__(self, failing: pd.Series, rule: str, examples: int) -> None:
        line = problem(failing, rule, examples).line()
        super().__init__(f"{line} (the model was trained on other labels: retrain it, `uv run dvc repro`)")


class ModelMissing(UserError, FileNotFoundError):
    """No trained model where one is needed: the user runs the pipeline (one line, no traceback)."""


def missing(model_dir: Path) -> ModelMissing:
    return ModelMissing(not_built(f"model {model_dir / MODEL_FILE}"))


class ModelUnreadable(UserError, ValueError):
    """A model file that is there but cannot be read (truncated, corrupt, not this project's):
    one line naming the file, not XGBoost's C++ backtrace or a JSON traceback."""


def _unreadable(path: Path, reason: str) -> ModelUnreadable:
    # XGBoost prefixes its message with "[time] source.cc:line: ": the reason is what follows.
    reason = re.sub(r"^\[[\d:]+\] \S+: ", "", reason.strip().splitlines()[0] if reason.strip() else "")
    return ModelUnreadable(
        f"cannot read {path} ({reason[:160]}): the file is truncated or corrupt; restore it "
        "(`uv run dvc checkout`, `uv run dvc pull`) or retrain (`make run`)"
    )


def total_gain(booster: xgb.Booster, features: list[str]) -> dict[str, float]:
    """Each feature's total gain over the trees, XGBoost's own importance (0: never split on)."""
    scores = booster.get_score(importance_type="total_gain")  # a list only for vector leaves: summed
    return {name: float(np.sum(scores.get(name, 0.0))) for name in features}


MODEL_FILES = (MODEL_FILE, SPEC_FILE)  # both change the answers; the digest lists them in this order


def content_sha256(contents: dict[str, bytes]) -> str:
    """The model's digest from its files' bytes (``MODEL_FILES``, by name): see ``model_sha256``."""
    listing = "".join(f"{hashlib.sha256(contents[name]).hexdigest()}  {name}\n" for name in MODEL_FILES)
    return hashlib.sha256(listing.encode()).hexdigest()


def model_sha256(model_dir: Path) -> str:
    """The model's digest, the one name of a model: ``Model.version`` (its first 12 hex, what
    /metadata, the response headers, Prometheus, the prediction log, release.json and the image
    tag ``model-<version>`` show) and the ``model.sha256`` lineage tag (MLflow, image labels).

    It covers both files the service loads: a new threshold, class names, category levels or
    features change the answers with the booster's bytes unchanged. Defined as the sha256 of
    ``sha256sum``'s listing of the two, so a shell checks it:
    ``cd models && sha256sum model.ubj model_spec.json | sha256sum``. Training writes both with
    stable bytes: the same data and params give the same version.
    """
    if not (model_dir / MODEL_FILE).is_file():  # no model yet, not a broken one
        raise missing(model_dir)
    contents = {}
    for name in MODEL_FILES:
        try:
            contents[name] = (model_dir / name).read_bytes()
        except OSError as exc:
            raise _unreadable(model_dir / name, exc.strerror or str(exc)) from None
    return content_sha256(contents)


def load(model_dir: Path) -> Model:
    """The model, its digest taken from the bytes it loaded (not from a second read of the files)."""
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise missing(model_dir)
    if "xgboost" not in sys.modules:  # what it maps as it loads, it takes for granted
        ensure_room(XGBOOST_ROOM, "loading the model")
    import xgboost as xgb  # lazy: see the module's imports

    booster = xgb.Booster()
    try:
        raw = model_path.read_bytes()
        booster.load_model(bytearray(raw))
    except (OSError, xgb.core.XGBoostError) as exc:
        raise _unreadable(model_path, str(exc)) from None
    spec, spec_raw = read_spec(model_dir)
    return Model(booster, spec, content_sha256({MODEL_FILE: raw, SPEC_FILE: spec_raw}))


def read_spec(model_dir: Path) -> tuple[ModelSpec, bytes]:
    """The model's spec (task, classes, features) without its booster, and the bytes it was read from."""
    spec_path = model_dir / SPEC_FILE
    try:
        spec_raw = spec_path.read_bytes()
        return ModelSpec(**json.loads(spec_raw)), spec_raw
    except (OSError, ValueError, TypeError) as exc:  # missing, not JSON, not a spec's fields
        raise _unreadable(spec_path, str(exc)) from None
