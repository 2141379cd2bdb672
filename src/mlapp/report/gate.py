"""`mlapp report gate`: the gate decision of a written report as an exit code.

Kept free of heavy imports: in CI it runs as its own step right after the report is
uploaded, and only reads report.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlapp.report import schema
from mlapp.report.schema import GateResult


def message(gate: GateResult) -> str:
    if gate.passed:
        return "quality gate passed"
    return "quality gate FAILED:\n" + "\n".join(f"  - {r}" for r in gate.reasons)


def check(report_path: Path) -> int:
    gate = schema.read(report_path).gate
    print(message(gate), file=sys.stdout if gate.passed else sys.stderr)
    for note in gate.notes:
        print(f"  note: {note}")
    return 0 if gate.passed else 1
