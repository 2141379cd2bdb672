"""``mlapp monitor run``: compare a batch with the training reference; write JSON + Markdown.

The reference is what the current model was built from, all named in params.yaml: the
split stage's train table (``split.train``) for features, the model's scores on the
held-out test table (``split.test``; scores on training rows are overconfident) for the
prediction distribution, and ``evaluate.metrics`` for metric decay. A small test table is
a noisy reference (PSI 0.17 between two samples of one model's scores at 67 rows, 0.004 at
4,000, measured): under ``monitor.min_reference_rows`` the training rows' scores are added.

Exit codes: 0 no action, 1 retraining recommended, 2 error (bad input or missing reference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import gha
from mlapp.cells import BATCH_LABEL_FIX, placeholder_hint
from mlapp.errors import writing
from mlapp.metrics import round6
from mlapp.model import Model, ModelSpec, load
from mlapp.monitor import decision, drift, schema
from mlapp.monitor.batch import Batch, InvalidBatch, MonitorError, as_classes, read_batch
from mlapp.monitor.render import markdown
from mlapp.params import Params
from mlapp.problems import problem
from mlapp.schema import FEATURES, feature_schema
from mlapp.sources import refuse_overwriting
from mlapp.tables import read_frame, read_json, write_json, write_text

NO_ACTION, RETRAIN, ERROR = 0, 1, 2


@dataclass(frozen=True)
class Reference:
    features: pd.DataFrame
    scores: np.ndarray
    metrics: dict[str, float] | None
    model: Model


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MonitorError(
            f"{what} {path} is missing: run the pipeline first (`make run` or `uv run dvc repro`)"
        )
    return path


def load_reference(params: Params, model_dir: Path) -> Reference:
    train = read_frame(_need(params.split.train, "reference table (split.train)"))
    test = read_frame(_need(params.split.test, "score reference (split.test)"))
    model = load(model_dir)
    metrics_path = params.evaluate.metrics
    metrics = read_json(metrics_path) if metrics_path.is_file() else None
    scores = model.scores(test)
    if len(test) < params.monitor.min_reference_rows:
        scores = np.concatenate([scores, model.scores(train)])
    return Reference(train, scores, metrics, model)


def _true_labels(labels: pd.Series, spec: ModelSpec, batch: Batch, limit: int) -> np.ndarray:
    """The batch's labels as the model's classes, or ``InvalidBatch`` naming the rows (0-based)
    whose label it does not know, as validate names a value outside data.classes."""
    if spec.task == "regression":
        return spec.encode(labels, examples=limit)
    labels = as_classes(labels, spec.classes)
    unknown = labels[spec.unknown(labels)]
    if len(unknown):
        rule = f"one of the model's classes {spec.classes}" + placeholder_hint(unknown, fix=BATCH_LABEL_FIX)
        raise InvalidBatch(batch.source, [problem(unknown, rule, limit)], len(batch.frame))
    return spec.encode(labels, examples=limit)


def _decay(batch: Batch, scores: np.ndarray, reference: Reference, params: Params) -> dict[str, Any]:
    """Metric decay on the batch's labeled rows; ``scores``: the model's, of every row."""
    is_labeled = batch.is_labeled(params.data.label)
    labels = batch.frame.loc[is_labeled, params.data.label] if is_labeled.any() else None  # not a frame copy
    spec = reference.model.spec
    limit = params.validate_.max_failure_examples
    y_true = np.array([]) if labels is None else _true_labels(labels, spec, batch, limit)
    if (count := int(is_labeled.sum())) < params.monitor.min_rows:
        return {"status": "skipped", "why": f"{count} labeled rows < monitor.min_rows", "metrics": []}
    if len(np.unique(y_true)) < 2:
        one = "one value" if reference.model.task == "regression" else "one class"
        return {"status": "skipped", "why": f"labeled rows hold only {one}", "metrics": []}
    if reference.metrics is None:
        raise MonitorError(f"{params.evaluate.metrics} is missing: run the pipeline first (`make run`)")
    # A metric watched since the model was evaluated: named, not a KeyError.
    if lacking := sorted(set(params.monitor.decay_tolerance) - set(reference.metrics)):
        raise MonitorError(
            f"{params.evaluate.metrics} has no {', '.join(lacking)}, which monitor.decay_tolerance watches: "
            "run the pipeline (`uv run dvc repro`), whose evaluate writes it"
        )
    rows = drift.metric_decay(
        y_true,
        scores[is_labeled],  # rows are scored one by one: no second pass
        reference.model.spec,
        reference.metrics,
        params.monitor.decay_tolerance,
        resamples=params.report.bootstrap_resamples,
        seed=params.report.bootstrap_seed,
        confidence=params.report.confidence,
        max_rows=params.monitor.decay_bootstrap_rows,
    )
    return {"status": "checked", "why": "", "metrics": [asdict(r) for r in rows]}


def _served(batch: Batch, scores: np.ndarray, model: Model) -> dict[str, Any] | None:
    """For a log: which models served, and whether this model reproduces the logged scores.

    Compared only when every row was served by this very model (same content hash):
    a difference then means training/serving skew, not a model change.
    """
    if batch.served is None:
        return None
    if model.task != "binary":  # the log's score field is the binary probability
        return {"model_versions": batch.served.model_versions, "current_model_version": model.version,
                "max_score_difference": None}  # fmt: skip
    logged = batch.served.probability.to_numpy(dtype=np.float64)
    present = ~np.isnan(logged)
    comparable = list(batch.served.model_versions) == [model.version] and bool(present.any())
    return {
        "model_versions": batch.served.model_versions,
        "current_model_version": model.version,
        "max_score_difference": (
            round6(np.max(np.abs(logged[present] - scores[present]))) if comparable else None
        ),
    }


def compare(batch: Batch, reference: Reference, params: Params) -> dict[str, Any]:
    monitor = params.monitor
    unknown = sorted(set(monitor.psi_by_feature) - set(FEATURES))
    if unknown:
        raise MonitorError(f"monitor.psi_by_feature names unknown features: {unknown}")
    features = drift.feature_drift(reference.features, batch.frame, feature_schema(), monitor)
    scores = reference.model.scores(batch.frame)
    prediction = drift.prediction_shift(reference.scores, scores, reference.model.spec, monitor)
    decay = _decay(batch, scores, reference, params)
    weights = decision.importance(reference.model.booster, [f.feature for f in features])
    decided = decision.decide(
        features, weights, prediction, [drift.MetricDecay(**row) for row in decay["metrics"]], monitor
    )
    drifted = [f.feature for f in features if f.drifted]
    by_rule = {rule.rule: rule for rule in decided.rules}
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "status": "retrain" if decided.retrain else "ok",
        "retrain": decided.retrain,
        "reasons": decided.reasons,
        "rules": [asdict(rule) for rule in decided.rules],
        "source": batch.source,
        "format": batch.format,
        "rows": len(batch.frame),
        "labeled_rows": int(batch.is_labeled(params.data.label).sum()),
        "reference": {
            "features": str(params.split.train),
            "feature_rows": len(reference.features),
            "scores": str(params.split.test),
            "score_rows": prediction.reference_rows,  # test rows, plus training rows when too few
            "metrics": str(params.evaluate.metrics),
            "model_version": reference.model.version,
        },
        "thresholds": monitor.model_dump(
            mode="json", exclude={"source", "report_json", "report_markdown", "retrain"}
        ),
        "features": [asdict(f) for f in features],
        "drifted_features": drifted,
        "drifted_share": round6(len(drifted) / len(features)),
        "importance": weights,  # share of the model's total gain per feature; None: no splits
        "drifted_importance": by_rule["drifted_importance"].value,
        "prediction": asdict(prediction),
        "decay": decay,
        "served": _served(batch, scores, reference.model),
    }


def _write(report: dict[str, Any], json_path: Path, markdown_path: Path, summary: Path | None) -> None:
    data = schema.dump(schema.parse(report, "the report being written"))  # a renamed key fails here
    with writing(json_path):
        write_json(data, json_path)
    text = markdown(data)
    with writing(markdown_path):
        write_text(text, markdown_path)
    gha.append_summary(text, summary)  # the workflow run's summary page


def _github_output(path: Path | None, report: dict[str, Any]) -> None:
    gha.set_outputs({"retrain": bool(report["retrain"]), "status": str(report["status"])}, path)


def main(
    params: Params,
    *,
    source: str | None,
    json_path: Path,
    markdown_path: Path,
    model_dir: Path,
    exit_zero: bool = False,
    github_output: Path | None = None,
    summary: Path | None = None,
) -> int:
    """Check ``source``; exit code 0 no action, 1 retrain (0 with ``exit_zero``)."""
    if not source:
        raise MonitorError("no batch to check: pass --source PATH or set monitor.source in params.yaml")
    # Every file this run writes or appends to, checked before the first is removed: one naming
    # the batch would delete (or append to) the data being checked.
    refuse_overwriting(source, json_path, markdown_path, *(p for p in (summary, github_output) if p))
    for stale in (json_path, markdown_path):  # a run that fails must not leave a report read as its own
        with writing(stale):
            stale.unlink(missing_ok=True)
    try:  # a batch's labels are checked against the model's classes in compare
        batch = read_batch(source, params)
        report = compare(batch, load_reference(params, model_dir), params)
    except InvalidBatch as exc:
        invalid = {
            "schema_version": schema.SCHEMA_VERSION,
            "status": "invalid",
            "retrain": False,
            "source": source,
            "rows": exc.rows,
            "problems": [p.__dict__ for p in exc.problems],
        }
        _write(invalid, json_path, markdown_path, summary)
        _github_output(github_output, invalid)
        raise
    _write(report, json_path, markdown_path, summary)
    _github_output(github_output, report)
    verdict = "RETRAIN recommended: " + "; ".join(report["reasons"]) if report["retrain"] else "no action"
    print(f"monitor: {report['rows']} rows from {source}: {verdict} (report {markdown_path})")
    return RETRAIN if report["retrain"] and not exit_zero else NO_ACTION
