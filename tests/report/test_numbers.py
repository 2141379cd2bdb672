"""Metric values and their changes: 4 decimals for an AUC, significant digits for a large error.

An RMSE of 2190790982358.2285 was printed with its 4 noise decimals in the metrics table, the
gate's reasons and the monitor's decay table.
"""

from __future__ import annotations

from mlapp.markdown_table import number
from mlapp.monitor import render
from tests.report.test_changes import _metric_rows, _row


def test_large_values_print_significant_digits_small_ones_four_decimals() -> None:
    assert number(2190790982358.2285) == "2.19079e+12"
    assert number(12345.678) == "12,345.7" and number(-41.77, signed=True) == "-41.7700"
    assert number(0.81234) == "0.8123" and number(0.0, signed=True) == "+0.0000" and number(None) == "—"


def test_the_metrics_table_and_the_decay_table_use_it() -> None:
    rows = [_row("rmse", 2190790982358.2285, 2190790982400.5), _row("r2", 0.81234, 0.8)]
    text = _metric_rows("regression", [], {"base": {}, "pr": {}}, rows)
    assert "| **rmse** ★ | 2.19079e+12 | 2.19079e+12 | +42.2715 |" in text
    assert "| r2 | 0.8123 | 0.8000 | -0.0123 |" in text
    assert "2358.2285" not in text
    decay = {"status": "checked", "metrics": [{"metric": "rmse", "reference": 2190790982358.2285,
             "batch": 3190790982358.5, "change": 1e12, "tolerance": 0.1, "decayed": True}]}  # fmt: skip
    table = "\n".join(render._decay({"decay": decay, "labeled_rows": 300}))
    assert "| rmse | 2.19079e+12 | 3.19079e+12 | — | +1e+12 |" in table
