"""The monitor's latest drift report as Prometheus metrics (``mlapp monitor metrics``).

``mlapp monitor run`` writes ``reports/monitor/monitor.json``; this turns that report into the
Prometheus text format, so a dashboard can show drift next to the service's own metrics
(infra/monitoring/grafana-dashboard.json). Two ways to get it into Prometheus:

- **Pushgateway** (the monitor runs in CI or a CronJob, nothing to scrape):
  ``mlapp monitor metrics --out - | curl --data-binary @- $PUSHGATEWAY/metrics/job/mlapp_monitor``
- **node-exporter textfile collector** (the monitor runs on a host):
  ``mlapp monitor metrics --out /var/lib/node_exporter/textfile/mlapp_drift.prom``
  (written to a temporary file and renamed, as the collector requires).

Every series carries the reference ``model_version`` the batch was compared with. The report
is parsed with its schema (mlapp.monitor.schema), so a renamed key is an error, not a
silently missing series; prometheus_client renders the text.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from mlapp.files import write_text
from mlapp.monitor import schema

PREFIX = "mlapp"
UNKNOWN = "unknown"


class _Gauges:
    """Gauges of one fresh registry, all labelled with the reference model version."""

    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.version = version

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", documentation, ["model_version", *labels], registry=self.registry)

    def set(self, gauge: Gauge, value: float | bool | None, *labels: str) -> None:
        if value is not None:  # absent (e.g. KS of a categorical feature): no sample at all
            gauge.labels(self.version, *labels).set(float(value))


def registry(report: schema.MonitorReport | schema.InvalidReport, report_mtime: float) -> CollectorRegistry:
    """The report's numbers as gauges (an invalid batch yields only the status gauges). Each group
    declares its gauges even without values: the exposition lists them in this order."""
    full = report if isinstance(report, schema.MonitorReport) else None
    g = _Gauges(full.reference.model_version if full else UNKNOWN)
    _features(g, full)
    _rules(g, full)
    _prediction(g, full)
    _decay(g, full)
    _batch(g, report, report_mtime)
    return g.registry


def _features(g: _Gauges, full: schema.MonitorReport | None) -> None:
    psi = g.gauge(
        "drift_psi", "Population stability index of a feature, batch vs training reference", "feature"
    )
    psi_limit = g.gauge("drift_psi_threshold", "PSI at which a feature counts as drifted", "feature")
    ks = g.gauge("drift_ks_statistic", "Two-sample KS distance of a numeric feature", "feature")
    drifted = g.gauge("drift_feature_drifted", "1 if the feature crossed a drift threshold", "feature")
    share = g.gauge("drift_drifted_share", "Share of features that drifted")
    weight = g.gauge("drift_feature_importance", "A feature's share of the model's total gain", "feature")
    held = g.gauge("drift_drifted_importance", "Share of the model's total gain held by drifted features")
    if full is None:
        return
    for row in full.features:
        g.set(psi, row.psi, row.feature)
        g.set(psi_limit, row.psi_threshold, row.feature)
        g.set(ks, row.ks_statistic, row.feature)
        g.set(drifted, row.drifted, row.feature)
    g.set(share, full.drifted_share)
    for name, value in (full.importance or {}).items():
        g.set(weight, value, name)
    g.set(held, full.drifted_importance)


def _rules(g: _Gauges, full: schema.MonitorReport | None) -> None:
    hit = g.gauge("monitor_rule_triggered", "1 if this retraining rule fired in the last run", "rule")
    value = g.gauge("monitor_rule_value", "The statistic a retraining rule compares", "rule")
    limit = g.gauge("monitor_rule_threshold", "The value at which a retraining rule fires", "rule")
    for rule in full.rules if full else []:  # a rule turned off (threshold null) has no threshold sample
        g.set(hit, rule.triggered, rule.rule)
        g.set(value, rule.value, rule.rule)
        g.set(limit, rule.threshold, rule.rule)


def _prediction(g: _Gauges, full: schema.MonitorReport | None) -> None:
    psi = g.gauge("drift_prediction_psi", "PSI of the model's scores, batch vs the test set")
    limit = g.gauge("drift_prediction_psi_threshold", "Prediction PSI that recommends retraining")
    if full is not None:
        g.set(psi, full.prediction.psi)
        g.set(limit, full.prediction.threshold)


def _decay(g: _Gauges, full: schema.MonitorReport | None) -> None:
    decay = g.gauge(
        "monitor_decay_metric",
        "Model metric on the batch's labeled rows and in metrics.json",
        "metric",
        "sample",
    )
    for metric in full.decay.metrics if full else []:
        g.set(decay, metric.batch, metric.metric, "batch")
        g.set(decay, metric.reference, metric.metric, "reference")


def _batch(g: _Gauges, report: schema.MonitorReport | schema.InvalidReport, report_mtime: float) -> None:
    """What every report has, a batch that failed validation too."""
    full = report if isinstance(report, schema.MonitorReport) else None
    retrain = g.gauge("monitor_retrain_recommended", "1 if the last monitor run recommended retraining")
    g.set(retrain, report.retrain)
    invalid = g.gauge("monitor_batch_invalid", "1 if the last batch failed validation (no drift computed)")
    g.set(invalid, report.status == "invalid")
    rows = g.gauge("monitor_batch_rows", "Rows in the last monitored batch")
    g.set(rows, report.rows)
    labeled = g.gauge("monitor_labeled_rows", "Rows with ground truth in the last monitored batch")
    g.set(labeled, full.labeled_rows if full else None)
    stamp = g.gauge("monitor_report_timestamp_seconds", "When the monitor report was written (Unix time)")
    g.set(stamp, report_mtime)


def exposition(report: schema.MonitorReport | schema.InvalidReport, report_mtime: float) -> str:
    """Prometheus text format (version 0.0.4): what Pushgateway and the textfile collector read."""
    return generate_latest(registry(report, report_mtime)).decode()


def write(report_path: Path, out: str) -> str:
    """Write the metrics of ``report_path`` to ``out`` (``-``: stdout); returns the text."""
    text = exposition(schema.read(report_path), report_path.stat().st_mtime)
    if out == "-":
        sys.stdout.write(text)
        return text
    # Whole file or nothing: a scraper never reads a half-written file. With the user's mode, as
    # every file mlapp writes: node-exporter runs as its own user and reads it under umask 022.
    write_text(text, Path(out))
    return text
