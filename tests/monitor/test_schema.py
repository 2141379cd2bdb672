"""monitor.json is typed: writers and readers share mlapp.monitor.schema; metrics come from it."""

from __future__ import annotations

import json
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlapp import drift_metrics
from mlapp.monitor import schema
from mlapp.monitor.rows import FeatureDrift, MetricDecay, MonitorError, PredictionShift, RuleCheck


def _report() -> dict[str, Any]:
    features = [
        FeatureDrift("tenure", "numeric", 0.31, 0.2, 0.12, 1e-5, 0.0, 0.0, "[0, 6)", True, ["PSI 0.31"]),
        FeatureDrift("contract", "categorical", 0.01, 0.2, None, None, 0.0, 0.01, "monthly", False),
    ]
    prediction = PredictionShift(0.05, 0.2, 0.03, 0.4, 0.21, 0.22, 0.3, 0.31, False)
    decay = [MetricDecay("roc_auc", 0.8, 0.7, -0.1, 0.05, True)]
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "status": "retrain",
        "retrain": True,
        "reasons": ["severe drift in 1 feature(s), PSI >= 0.3: tenure (PSI 0.310)"],
        "rules": [
            asdict(RuleCheck("severe_feature", True, 0.31, 0.3, ["tenure"], "severe drift in 1 feature(s)")),
            asdict(RuleCheck("drifted_importance", False, 0.1, None, ["tenure"], "off")),
        ],
        "source": "recent.csv",
        "format": "csv",
        "rows": 500,
        "labeled_rows": 400,
        "reference": {
            "features": "a.parquet",
            "feature_rows": 1000,
            "scores": "b.parquet",
            "score_rows": 1200,
            "metrics": "m.json",
            "model_version": "abc123",
        },
        "thresholds": {"psi": 0.2},
        "features": [asdict(f) for f in features],
        "drifted_features": ["tenure"],
        "drifted_share": 0.5,
        "importance": {"tenure": 0.1, "contract": 0.9},
        "drifted_importance": 0.1,
        "prediction": asdict(prediction),
        "decay": {"status": "checked", "why": "", "metrics": [asdict(d) for d in decay]},
        "served": None,
        "future": None,
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_textfile_takes_the_users_mode(umask: int, tmp_path: Path) -> None:
    """Before: mkstemp's 0600 whatever the umask, a file node-exporter (its own user) cannot read."""
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps(_report()))
    out = tmp_path / "textfile" / "drift.prom"
    drift_metrics.write(path, str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in out.parent.iterdir()] == ["drift.prom"]  # no temporary file left


def test_report_round_trips_and_renders_every_series(tmp_path: Path) -> None:
    data = _report()
    assert schema.dump(schema.parse(data)) == data
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "textfile" / "drift.prom"
    samples = _samples(drift_metrics.write(path, str(out)))
    assert out.read_text() == drift_metrics.write(path, str(out))
    v = ("model_version", "abc123")
    assert samples[("mlapp_drift_psi", (("feature", "tenure"), v))] == 0.31
    assert samples[("mlapp_drift_ks_statistic", (("feature", "tenure"), v))] == 0.12
    assert ("mlapp_drift_ks_statistic", (("feature", "contract"), v)) not in samples  # no KS for categories
    assert samples[("mlapp_drift_feature_drifted", (("feature", "contract"), v))] == 0
    assert samples[("mlapp_monitor_decay_metric", (("metric", "roc_auc"), v, ("sample", "batch")))] == 0.7
    assert samples[("mlapp_monitor_retrain_recommended", (v,))] == 1
    assert samples[("mlapp_drift_feature_importance", (("feature", "contract"), v))] == 0.9
    assert samples[("mlapp_drift_drifted_importance", (v,))] == 0.1
    assert samples[("mlapp_monitor_rule_triggered", (v, ("rule", "severe_feature")))] == 1
    assert samples[("mlapp_monitor_rule_value", (v, ("rule", "severe_feature")))] == 0.31
    assert samples[("mlapp_monitor_rule_threshold", (v, ("rule", "severe_feature")))] == 0.3
    assert samples[("mlapp_monitor_rule_triggered", (v, ("rule", "drifted_importance")))] == 0
    assert ("mlapp_monitor_rule_threshold", (v, ("rule", "drifted_importance"))) not in samples  # off
    assert samples[("mlapp_monitor_labeled_rows", (v,))] == 400
    assert samples[("mlapp_monitor_report_timestamp_seconds", (v,))] == pytest.approx(path.stat().st_mtime)


def test_invalid_batch_report_gives_status_gauges_only() -> None:
    invalid = {
        "schema_version": schema.SCHEMA_VERSION,
        "status": "invalid",
        "retrain": False,
        "source": "bad.csv",
        "rows": 3,
        "problems": [{"column": "age", "check": "age >= 0", "count": 1, "values": [-1], "rows": [2]}],
    }
    samples = _samples(drift_metrics.exposition(schema.parse(invalid), 0.0))
    v = ("model_version", "unknown")
    assert samples == {
        ("mlapp_monitor_retrain_recommended", (v,)): 0,
        ("mlapp_monitor_batch_invalid", (v,)): 1,
        ("mlapp_monitor_batch_rows", (v,)): 3,
        ("mlapp_monitor_report_timestamp_seconds", (v,)): 0,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(drifted_ratio=r.pop("drifted_share")), "drifted_share"),
        (lambda r: r["features"][0].update(psi_value=r["features"][0].pop("psi")), "psi"),
        (lambda r: r["prediction"].pop("threshold"), "threshold"),
        (lambda r: r.pop("schema_version"), "schema_version"),
        (lambda r: r.update(schema_version=1), "schema_version"),  # before rules and importance
        (lambda r: r.update(schema_version=2), "schema_version"),  # before served.compared
        (lambda r: r.update(schema_version=3), "schema_version"),  # before served.cut_line
        (lambda r: r.update(schema_version=4), "schema_version"),  # before future
        (lambda r: r.pop("future"), "future"),  # a version-4 report's keys
        (
            lambda r: r.update(
                served={"model_versions": {"a": 3}, "current_model_version": "a", "max_score_difference": 0.0}
            ),
            "compared",  # a version-2 log's served part: what the difference is of is not said
        ),
        (lambda r: r["rules"][0].pop("threshold"), "threshold"),
    ],
)
def test_a_renamed_or_missing_key_fails_loudly(change: Any, message: str, tmp_path: Path) -> None:
    data = _report()
    change(data)
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MonitorError, match=r"does not match monitor\.json schema version 5") as info:
        drift_metrics.write(path, "-")
    assert message in str(info.value)


def test_missing_report_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="run `mlapp monitor run` first"):
        drift_metrics.write(tmp_path / "absent.json", "-")
