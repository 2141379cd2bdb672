"""`mlapp report gate`: the gate decision of a written report as an exit code.

Kept free of heavy imports: in CI it runs as its own step right after the report is
uploaded, and only reads report.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlapp.errors import UserError


def message(gate: dict[str, Any]) -> str:
    if gate["passed"]:
        return "quality gate passed"
    return "quality gate FAILED:\n" + "\n".join(f"  - {r}" for r in gate["reasons"])


def check(report_path: Path) -> int:
    if not report_path.is_file():
        raise UserError(f"{report_path} not found: run `make report` (mlapp report run) first")
    gate = json.loads(report_path.read_text())["gate"]
    print(message(gate), file=sys.stdout if gate["passed"] else sys.stderr)
    for note in gate.get("notes", []):
        print(f"  note: {note}")
    return 0 if gate["passed"] else 1
