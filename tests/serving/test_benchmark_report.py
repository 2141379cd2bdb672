"""benchmarks/serving.py's targets when a compared system answered nothing in a round: a loaded
machine can starve one server for a whole short window, and the run must still write its result."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tests.conftest import REPO


def system(req_s: float) -> dict[str, Any]:
    return {"req_s": req_s, "p50_ms": 1.0, "p99_ms": 2.0, "server_cpu_ms_per_request": 1.0,
            "non_2xx": 0, "socket_errors": 0}  # fmt: skip


def run(mlflow_req_s: list[float]) -> dict[str, Any]:
    rounds = [
        {"bentoml": {100: system(50.0)}, "mlflow": {100: system(rate)},
         "in_process": {"booster_100_rows_s": 1e6}, "loadavg_start": 1.0, "loadavg_end": 1.0}
        for rate in mlflow_req_s
    ]  # fmt: skip
    machine = {"cpus": 2, "load_before": [1.0], "load_after": [1.0]}
    return {"rounds": rounds, "systems": ["bentoml", "mlflow"], "machine": machine,
            "date": "today", "model_version": "1", "quick": True}  # fmt: skip


@pytest.fixture
def report(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return importlib.import_module("serving_report")


def target(report: Any, result: dict[str, Any]) -> dict[str, Any]:
    [found] = [t for t in report.targets(result) if "mlflow" in t["target"]]
    return found


def test_a_round_the_compared_system_did_not_answer_is_left_out_and_counted(report: Any) -> None:
    found = target(report, run([10.0, 0.0, 5.0]))
    assert found["rounds"] == [5.0, 10.0] and found["unanswered_rounds"] == 1
    assert found["met"] is True  # 7.5 >= 5


def test_no_round_answered_is_not_met_and_the_table_says_so(report: Any) -> None:
    result = run([0.0, 0.0])
    found = target(report, result)
    assert found["value"] is None and found["unanswered_rounds"] == 2 and found["met"] is False
    result["targets"] = report.targets(result)
    assert "vs mlflow models serve (2 rounds unanswered) | no round answered | - |" in (
        report.markdown(result)
    )
