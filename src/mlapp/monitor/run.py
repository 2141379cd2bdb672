"""``mlapp monitor run``: compare a batch with the training reference; write JSON + Markdown.

The batch is read ``monitor.chunk_rows`` rows at a time (``checked``): each chunk is validated
(``checks``) and counted (``tally``), so memory holds a chunk and the counts, not the batch.

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

import pandas as pd

from mlapp import gha
from mlapp.errors import UserError, redact, writing
from mlapp.files import write_json, write_text
from mlapp.metrics import round6
from mlapp.model import read_spec
from mlapp.monitor import decision, schema
from mlapp.monitor.batch import Batch, InvalidBatch, read_chunks, source_format
from mlapp.monitor.checks import BatchCheck
from mlapp.monitor.logs import CUT_LINE, Log
from mlapp.monitor.render import future_text, markdown
from mlapp.monitor.repeats import repeated_share_of, row_hashes
from mlapp.monitor.rows import FeatureDrift, MetricDecay, MonitorError, PredictionShift
from mlapp.monitor.served import Scores
from mlapp.monitor.tally import Reference, Tallies, load_reference
from mlapp.params import Params
from mlapp.params_monitor import MonitorParams
from mlapp.problem_row import Problem
from mlapp.schema import FEATURES
from mlapp.sources import refuse_overwriting
from mlapp.tables import read_frame

__all__ = ["Reference", "compare", "load_reference", "main", "report"]

NO_ACTION, RETRAIN, ERROR = 0, 1, 2
NO_SOURCE = "no batch to check: pass --source PATH or set monitor.source in params.yaml"
SKIPPED = (
    "### Monitor skipped: no batch to check\n\n"
    "Set `monitor.source` in params.yaml to the path or URL of recent data (CSV, Parquet or a JSONL "
    "prediction log; docs/monitoring.md), or run the workflow by hand with its `source` input. "
    "To stop the scheduled runs instead: `gh variable set CT_ENABLED --body false`.\n"
)


def has_source(source: str | None, *, github_output: Path | None = None, summary: Path | None = None) -> bool:
    """Whether there is a batch to check (step output ready=true|false). A scheduled run before
    ``monitor.source`` is set is skipped, not failed: the run's summary says what to set."""
    ready = bool(source)
    gha.set_outputs({"ready": ready}, github_output)
    if not ready:
        gha.append_summary(SKIPPED, summary)
    return ready


@dataclass(frozen=True)
class Judged:
    """A batch's statistics and the decision taken on them."""

    features: list[FeatureDrift]
    weights: dict[str, float] | None  # each feature's share of the model's total gain
    prediction: PredictionShift
    decay: dict[str, Any]
    decided: decision.Decision


def _judge(tallies: Tallies, monitor: MonitorParams) -> Judged:
    features = tallies.feature_drift()
    prediction = tallies.prediction.shift(monitor)
    decay = tallies.decay()
    weights = decision.importance(tallies.reference.model.booster, [f.feature for f in features])
    metrics = [MetricDecay(**row) for row in decay["metrics"]]
    decided = decision.decide(features, weights, prediction, metrics, monitor)
    return Judged(features, weights, prediction, decay, decided)


def _reference(reference: Reference, params: Params, score_rows: int) -> dict[str, Any]:
    """What the batch was compared with: the files params.yaml names, and the model."""
    return {
        "features": str(params.split.train),
        "feature_rows": len(reference.features),
        "scores": str(params.split.test),
        "score_rows": score_rows,  # test rows, plus training rows when too few
        "metrics": str(params.evaluate.metrics),
        "model_version": reference.model.version,
    }


def _drift(found: Judged) -> dict[str, Any]:
    """The features' and the predictions' statistics, and the decay."""
    drifted = [f.feature for f in found.features if f.drifted]
    by_rule = {rule.rule: rule for rule in found.decided.rules}
    return {
        "features": [asdict(f) for f in found.features],
        "drifted_features": drifted,
        "drifted_share": round6(len(drifted) / len(found.features)),
        "importance": found.weights,  # None: the model splits on no feature
        "drifted_importance": by_rule["drifted_importance"].value,
        "prediction": asdict(found.prediction),
        "decay": found.decay,
    }


def report(
    tallies: Tallies,
    source: str,
    fmt: str,
    versions: dict[str, int] | None,
    params: Params,
    cut_line: int | None = None,
) -> dict[str, Any]:
    """The report of a batch counted whole (``tallies``), or ``InvalidBatch`` for a label the model
    does not know. ``versions``, ``cut_line``: a log's (``Log``)."""
    if tallies.unknown_label:
        raise InvalidBatch(source, [tallies.unknown_label], tallies.rows)
    found, monitor = _judge(tallies, params.monitor), params.monitor
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "status": "retrain" if found.decided.retrain else "ok",
        "retrain": found.decided.retrain,
        "reasons": found.decided.reasons,
        "rules": [asdict(rule) for rule in found.decided.rules],
        "source": redact(source),  # the reports are shared (the run page): no signature
        "format": fmt,
        "rows": tallies.rows,
        "labeled_rows": tallies.labeled_rows(),
        "reference": _reference(tallies.reference, params, found.prediction.reference_rows),
        "thresholds": monitor.model_dump(
            mode="json", exclude={"source", "report_json", "report_markdown", "retrain", "chunk_rows"}
        ),
        **_drift(found),
        "served": tallies.served(versions, cut_line),
        "future": tallies.future.found(),
    }


def _known_features(params: Params) -> None:
    """A misspelt feature in psi_by_feature: said before a large batch is read."""
    if unknown := sorted(set(params.monitor.psi_by_feature) - set(FEATURES)):
        raise MonitorError(f"monitor.psi_by_feature names unknown features: {unknown}")


def compare(batch: Batch, reference: Reference, params: Params) -> dict[str, Any]:
    """The report of a batch held whole (one chunk)."""
    _known_features(params)
    tallies = Tallies(reference, params)
    tallies.add(batch.frame, batch.served.probability if batch.served else None)
    served = batch.served
    versions, cut_line = (served.model_versions, served.cut_line) if served else (None, None)
    return report(tallies, batch.source, batch.format, versions, params, cut_line)


def _classes(params: Params, model_dir: Path) -> list[str] | None:
    """A multiclass model's classes, which a log's served ``probabilities`` must be of (None when
    the model is not there yet: its absence is said once the batch has been checked)."""
    if params.task != "multiclass":
        return None
    try:
        return read_spec(model_dir)[0].classes  # the spec alone: the reference loads the booster
    except UserError:
        return None


def _repeated(check: BatchCheck, params: Params, tallies: Tallies | None) -> list[Problem]:
    """The batch's rows repeating earlier ones, when more than the reference's (``repeats``)."""
    allowed, train = params.monitor.repeated_share, params.split.train
    if check.repeats.share() <= allowed or (tallies is None and not train.is_file()):
        return []  # a missing reference is said once the batch has been checked
    features = tallies.reference.features if tallies else read_frame(train)
    reference = repeated_share_of(row_hashes(features))
    found = check.repeats.problem(reference, allowed, params.validate_.max_failure_examples)
    return [found] if found else []


def checked(source: str, params: Params, model_dir: Path) -> dict[str, Any]:
    """The report of ``source``, read, validated and counted ``monitor.chunk_rows`` rows at a time.

    A chunk is counted once the next one has been checked: a batch of one chunk is validated
    whole (its row count too) before the reference is read, as a batch held whole was.
    """
    _known_features(params)
    check, log = (
        BatchCheck(params),
        Log(params.validate_.max_failure_examples, classes=_classes(params, model_dir)),
    )
    tallies: Tallies | None = None
    held: tuple[pd.DataFrame, Scores | None] | None = None
    for frame, logged in read_chunks(source, params, log):
        typed = check.add(frame, log.unseen)
        if held is not None and not (log.problems or log.unusable or check.failing()):
            tallies = tallies or Tallies(load_reference(params, model_dir), params)
            tallies.add(*held)
        held = (typed, logged)
    if log.problems:
        raise InvalidBatch(source, log.problems, check.rows)
    unusable = [log.unusable] if log.unusable else []
    if problems := check.problems() + unusable + _repeated(check, params, tallies):
        raise InvalidBatch(source, problems, check.rows)
    tallies = tallies or Tallies(load_reference(params, model_dir), params)
    if held is not None:  # the last chunk (every source gives one, an empty one at least)
        tallies.add(*held)
    fmt = source_format(source)
    versions = dict(sorted(log.versions.items())) if fmt == "jsonl" else None
    return report(tallies, source, fmt, versions, params, log.cut_line)


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
        raise MonitorError(NO_SOURCE)
    # Every file this run writes or appends to, checked before the first is removed: one naming
    # the batch would delete (or append to) the data being checked.
    refuse_overwriting(source, json_path, markdown_path, *(p for p in (summary, github_output) if p))
    for stale in (json_path, markdown_path):  # a run that fails must not leave a report read as its own
        with writing(stale):
            stale.unlink(missing_ok=True)
    try:  # a batch's labels are checked against the model's classes in report
        result = checked(source, params, model_dir)
    except InvalidBatch as exc:
        invalid = {
            "schema_version": schema.SCHEMA_VERSION,
            "status": "invalid",
            "retrain": False,
            "source": redact(source),
            "rows": exc.rows,
            "problems": [p.__dict__ for p in exc.problems],
        }
        _write(invalid, json_path, markdown_path, summary)
        _github_output(github_output, invalid)
        raise
    _write(result, json_path, markdown_path, summary)
    _github_output(github_output, result)
    verdict = "RETRAIN recommended: " + "; ".join(result["reasons"]) if result["retrain"] else "no action"
    cut = result["served"] and result["served"]["cut_line"]
    said = [CUT_LINE.format(line=cut) if cut else "", future_text(result["future"])]
    rows = "; ".join(filter(None, [f"{result['rows']} rows from {result['source']}", *said]))
    print(f"monitor: {rows}: {verdict} (report {markdown_path})")
    return RETRAIN if result["retrain"] and not exit_zero else NO_ACTION
