"""The monitor's latest drift report as Prometheus metrics (``mlapp monitor metrics``).

``mlapp monitor run`` writes ``reports/monitor/monitor.json``; this turns that report into the
Prometheus text format, so a dashboard can show drift next to the service's own metrics
(infra/monitoring/grafana-dashboard.json). Two ways to get it into Prometheus:

- **Pushgateway** (the monitor runs in CI or a CronJob, nothing to scrape):
  ``mlapp monitor metrics --out - | curl --data-binary @- $PUSHGATEWAY/metrics/job/mlapp_monitor``
- **node-exporter textfile collector** (the monitor runs on a host):
  ``mlapp monitor metrics --out /var/lib/node_exporter/textfile/mlapp_drift.prom``
  (written to a temporary file and renamed, as the collector requires).

Every series carries the reference ``model_version`` the batch was compared with.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlapp.errors import UserError
from mlapp.tables import read_json

PREFIX = "mlapp"


class _Family:
    """One gauge family: ``name``, help text, label names and its samples."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> None:
        self.name = f"{PREFIX}_{name}"
        self.documentation = documentation
        self.labels = ("model_version", *labels)
        self.samples: list[tuple[tuple[str, ...], float]] = []

    def add(self, version: str, value: float | bool | None, *labels: str) -> None:
        if value is not None:
            self.samples.append(((version, *labels), float(value)))


def families(report: dict[str, Any], report_mtime: float) -> list[_Family]:
    """The report's numbers as gauge families (an invalid batch yields only the status gauges)."""
    version = str((report.get("reference") or {}).get("model_version", "unknown"))
    psi = _Family(
        "drift_psi", "Population stability index of a feature, batch vs training reference", ("feature",)
    )
    psi_limit = _Family("drift_psi_threshold", "PSI at which a feature counts as drifted", ("feature",))
    ks = _Family("drift_ks_statistic", "Two-sample KS distance of a numeric feature", ("feature",))
    drifted = _Family("drift_feature_drifted", "1 if the feature crossed a drift threshold", ("feature",))
    for row in report.get("features", []):
        psi.add(version, row["psi"], row["feature"])
        psi_limit.add(version, row["psi_threshold"], row["feature"])
        ks.add(version, row.get("ks_statistic"), row["feature"])
        drifted.add(version, row["drifted"], row["feature"])
    share = _Family("drift_drifted_share", "Share of features that drifted")
    share.add(version, report.get("drifted_share"))
    prediction = report.get("prediction") or {}
    score_psi = _Family("drift_prediction_psi", "PSI of the model's scores, batch vs the test set")
    score_psi.add(version, prediction.get("psi"))
    score_limit = _Family("drift_prediction_psi_threshold", "Prediction PSI that recommends retraining")
    score_limit.add(version, prediction.get("threshold"))
    decay = _Family(
        "monitor_decay_metric",
        "Model metric on the batch's labeled rows and in metrics.json",
        ("metric", "sample"),
    )
    for row in (report.get("decay") or {}).get("metrics", []):
        decay.add(version, row["batch"], row["metric"], "batch")
        decay.add(version, row["reference"], row["metric"], "reference")
    retrain = _Family("monitor_retrain_recommended", "1 if the last monitor run recommended retraining")
    retrain.add(version, bool(report.get("retrain")))
    invalid = _Family("monitor_batch_invalid", "1 if the last batch failed validation (no drift computed)")
    invalid.add(version, report.get("status") == "invalid")
    rows = _Family("monitor_batch_rows", "Rows in the last monitored batch")
    rows.add(version, report.get("rows"))
    labeled = _Family("monitor_labeled_rows", "Rows with ground truth in the last monitored batch")
    labeled.add(version, report.get("labeled_rows"))
    stamp = _Family("monitor_report_timestamp_seconds", "When the monitor report was written (Unix time)")
    stamp.add(version, report_mtime)
    return [
        psi,
        psi_limit,
        ks,
        drifted,
        share,
        score_psi,
        score_limit,
        decay,
        retrain,
        invalid,
        rows,
        labeled,
        stamp,
    ]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _lines(family: _Family) -> Iterator[str]:
    yield f"# HELP {family.name} {family.documentation}"
    yield f"# TYPE {family.name} gauge"
    for values, number in family.samples:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in zip(family.labels, values, strict=True))
        yield f"{family.name}{{{labels}}} {number!r}"


def exposition(report: dict[str, Any], report_mtime: float) -> str:
    """Prometheus text format (version 0.0.4): what Pushgateway and the textfile collector read."""
    return "".join(f"{line}\n" for family in families(report, report_mtime) for line in _lines(family))


def write(report_path: Path, out: str) -> str:
    """Write the metrics of ``report_path`` to ``out`` (``-``: stdout); returns the text."""
    if not report_path.is_file():
        raise UserError(f"monitor report {report_path} not found: run `mlapp monitor run` first")
    text = exposition(read_json(report_path), report_path.stat().st_mtime)
    if out == "-":
        sys.stdout.write(text)
        return text
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Whole file or nothing: a scraper never reads a half-written file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    Path(tmp).replace(target)
    return text
