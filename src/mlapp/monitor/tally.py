"""What the report needs from a batch, gathered chunk by chunk: memory holds one chunk, not the batch.

Feature drift and prediction shift are counts against bins and points fixed by the reference
(``drift.feature_tally``, ``drift.PredictionTally``): the same numbers as the whole batch at once.
Decay needs the labeled rows' labels and scores together (its metrics rank them): every one up
to ``monitor.decay_bootstrap_rows`` labeled rows, beyond that a seeded random sample of that many
(``LabeledSample``), whose metrics and bootstrap interval the report then gives.
A log's served scores are compared with the model's as the chunks pass (the largest difference:
in probability for binary and multiclass, in the label's unit for regression).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp.cells import BATCH_LABEL_FIX, placeholder_hint
from mlapp.errors import not_built
from mlapp.files import read_json
from mlapp.labels import spelt_as
from mlapp.metrics import rmsle_undefined, round6
from mlapp.model import Model, ModelSpec, load
from mlapp.monitor import drift
from mlapp.monitor.batch import as_classes
from mlapp.monitor.future import FutureTimes
from mlapp.monitor.rows import FeatureDrift, MonitorError
from mlapp.monitor.served import SCORE_FIELDS, Scores
from mlapp.params import Params
from mlapp.problem_row import Problem
from mlapp.problems import problem
from mlapp.schema import feature_schema
from mlapp.stages.findings import merge
from mlapp.tables import read_frame


@dataclass(frozen=True)
class Reference:
    features: pd.DataFrame
    scores: np.ndarray
    metrics: dict[str, float] | None
    model: Model
    # Why metrics.json has no rmsle (a test label or the model's prediction at most -1): running
    # the pipeline again would leave it out again. None when it has one, or for lack of a rerun.
    rmsle_why: str | None = None


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MonitorError(not_built(f"{what} {path}"))
    return path


def load_reference(params: Params, model_dir: Path) -> Reference:
    train = read_frame(_need(params.split.train, "reference table (split.train)"))
    test = read_frame(_need(params.split.test, "score reference (split.test)"))
    model = load(model_dir)
    metrics_path = params.evaluate.metrics
    metrics = read_json(metrics_path) if metrics_path.is_file() else None
    scores = model.scores(test)
    why = None
    if model.task == "regression" and metrics is not None and "rmsle" not in metrics:
        y = model.spec.encode(test[model.spec.label], examples=params.validate_.max_failure_examples)
        why = rmsle_undefined({"test label": y, "prediction": scores})
    if len(test) < params.monitor.min_reference_rows:
        scores = np.concatenate([scores, model.scores(train)])
    return Reference(train, scores, metrics, model, why)


def true_labels(labels: pd.Series, spec: ModelSpec, limit: int) -> tuple[np.ndarray, Problem | None]:
    """The batch's labels as the model's classes, or the problem naming the rows (0-based) whose
    label it does not know, as validate names a value outside data.classes."""
    if spec.task == "regression":
        return spec.encode(labels, examples=limit), None
    labels = as_classes(labels, spec.classes)
    unknown = labels[spec.unknown(labels)]
    if len(unknown):
        rule = f"one of the model's classes {spec.classes}" + placeholder_hint(unknown, fix=BATCH_LABEL_FIX)
        if pairs := spelt_as(unknown.dropna().drop_duplicates().astype(str), spec.classes):
            said = "; ".join(f"{v!r} is {c!r}" for v, c in pairs[:limit])
            rule += f" ({said} spelt another way, in case or a trailing '.': spell it as the model's class)"
        return np.array([]), problem(unknown, rule, limit)
    return spec.encode(labels, examples=limit), None


class LabeledSample:
    """Labeled rows' labels and scores, at most ``size`` of them: every one up to ``size`` (in row
    order, as the batch holds them), beyond that the ``size`` rows of the smallest random keys (a
    uniform sample without replacement). The keys are drawn row by row from ``seed``, so the same
    batch gives the same sample whatever its chunks."""

    def __init__(self, size: int, seed: int) -> None:
        # A stream of its own: the bootstrap draws from ``seed`` itself, and the rows it resamples
        # must not depend on which rows were kept.
        (stream,) = np.random.SeedSequence(seed).spawn(1)
        self.size, self.rng, self.rows = size, np.random.default_rng(stream), 0
        self.keys = np.empty(0)
        self.labels: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []

    def add(self, labels: np.ndarray, scores: np.ndarray) -> None:
        self.rows += len(labels)
        self.labels.append(labels)
        self.scores.append(scores)
        self.keys = np.concatenate([self.keys, self.rng.random(len(labels))])
        if len(self.keys) > self.size:
            kept = np.sort(np.argpartition(self.keys, self.size - 1)[: self.size])  # row order
            self.keys = self.keys[kept]
            self.labels, self.scores = (
                [np.concatenate(self.labels)[kept]],
                [np.concatenate(self.scores)[kept]],
            )

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.labels), np.concatenate(self.scores)


class Tallies:
    """Feed it the typed batch chunk by chunk (``add``), then ask for its parts of the report."""

    def __init__(self, reference: Reference, params: Params) -> None:
        self.reference, self.params = reference, params
        bins, spec = params.monitor.bins, reference.model.spec
        self.features = {
            name: drift.feature_tally(levels, reference.features[name], bins)
            for name, levels in drift.feature_levels(feature_schema()).items()
        }
        self.prediction = drift.PredictionTally(reference.scores, spec, bins)
        self.rows = 0
        self.labeled = LabeledSample(params.monitor.decay_bootstrap_rows, params.report.bootstrap_seed)
        self.unknown_label: Problem | None = None  # a label the model has no class for
        self.logged = False  # a log row carried a served score
        self.skew = 0.0  # its largest difference from this model's
        limit, slack = params.validate_.max_failure_examples, params.monitor.future_slack_s
        self.future = FutureTimes(params.data.time_column, pd.Timestamp.now(tz="UTC"), slack, limit)

    def add(self, frame: pd.DataFrame, logged: Scores | None) -> None:
        """One chunk of typed rows; ``logged``: a log's served scores of them."""
        self.rows += len(frame)
        self.future.add(frame)
        for name, tally in self.features.items():
            drift.count(tally, frame[name])
        scores = self.reference.model.scores(frame)
        self.prediction.add(scores)
        label = self.params.data.label
        if label in frame.columns and (labeled := frame[label].notna().to_numpy()).any():
            limit = self.params.validate_.max_failure_examples
            y, unknown = true_labels(frame.loc[labeled, label], self.reference.model.spec, limit)
            if unknown:
                self.unknown_label = merge(self.unknown_label, unknown, limit)
            if unknown is None:
                self.labeled.add(y, scores[labeled])
        if logged is not None:
            self._compare(logged, scores)

    def _compare(self, logged: Scores, scores: np.ndarray) -> None:
        """The largest difference between a log's served scores and this model's, over the rows
        that logged one: P(positive), each class's probability, or the prediction (label's unit)."""
        served = logged.to_numpy(dtype=np.float64).reshape(len(logged), -1)  # (rows, 1 or classes)
        ours = scores.astype(np.float64).reshape(len(scores), -1)
        # Scores of another task (params.task is not the model's), or a multiclass log read
        # without the model's classes: nothing comparable.
        if self.params.task != self.reference.model.task or served.shape != ours.shape:
            return
        present = ~np.isnan(served).any(axis=1)
        if present.any():
            self.logged = True
            self.skew = max(self.skew, float(np.max(np.abs(served[present] - ours[present]))))

    def labeled_rows(self) -> int:
        return self.labeled.rows

    def feature_drift(self) -> list[FeatureDrift]:
        return [drift.judged(name, tally, self.params.monitor) for name, tally in self.features.items()]

    def decay(self) -> dict[str, Any]:
        """Metric decay on the batch's labeled rows."""
        params, reference = self.params, self.reference
        if (count := self.labeled_rows()) < params.monitor.min_rows:
            return {"status": "skipped", "why": f"{count} labeled rows < monitor.min_rows", "metrics": []}
        y_true, scores = self.labeled.sample()
        if len(np.unique(y_true)) < 2:
            one = "one value" if reference.model.task == "regression" else "one class"
            return {"status": "skipped", "why": f"labeled rows hold only {one}", "metrics": []}
        if reference.metrics is None:
            raise MonitorError(not_built(str(params.evaluate.metrics)))
        # A metric watched since the model was evaluated: named, not a KeyError.
        if lacking := sorted(set(params.monitor.decay_tolerance) - set(reference.metrics)):
            if "rmsle" in lacking and reference.rmsle_why:
                raise MonitorError(
                    f"{params.evaluate.metrics} has no rmsle, which monitor.decay_tolerance watches: "
                    f"{reference.rmsle_why} (0-based rows of the test split): watch rmse or mae in "
                    "monitor.decay_tolerance instead"
                )
            raise MonitorError(
                f"{params.evaluate.metrics} has no {', '.join(lacking)}, which monitor.decay_tolerance "
                "watches: run the pipeline (`uv run dvc repro`), whose evaluate writes it"
            )
        named = {"label": y_true, "prediction": scores}
        if "rmsle" in params.monitor.decay_tolerance and (why := rmsle_undefined(named)):
            raise MonitorError(
                f"monitor.decay_tolerance watches rmsle, but {why} (0-based, of the labeled rows)"
            )
        rows = drift.metric_decay(
            y_true,
            scores,
            reference.model.spec,
            reference.metrics,
            params.monitor.decay_tolerance,
            resamples=params.report.bootstrap_resamples,
            seed=params.report.bootstrap_seed,
            confidence=params.report.confidence,
            max_rows=params.monitor.decay_bootstrap_rows,
        )
        return {"status": "checked", "why": "", "metrics": [asdict(r) for r in rows]}

    def served(self, versions: dict[str, int] | None, cut_line: int | None = None) -> dict[str, Any] | None:
        """For a log: which models served, whether this model reproduces the logged scores, and
        its last line when that was written in part (``cut_line``, left out).

        Compared only when every row was served by this very model (same content hash):
        a difference then means training/serving skew, not a model change. It is a probability's
        for binary and multiclass models, in the label's unit for regression (``compared``).
        """
        if versions is None:
            return None
        model = self.reference.model
        comparable = list(versions) == [model.version] and self.logged
        return {
            "model_versions": versions,
            "current_model_version": model.version,
            "compared": SCORE_FIELDS[model.task],
            "max_score_difference": round6(self.skew) if comparable else None,
            "cut_line": cut_line,
        }
