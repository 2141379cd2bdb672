"""benchmarks/stop_resets.py's servers take their ports (traffic and probe) from ``--ports``, as
benchmarks/probes.py's do, when a shared machine gives each user a range."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO


def test_the_servers_ports_come_from_the_range_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    bench = runpy.run_path(str(REPO / "benchmarks" / "stop_resets.py"))
    ports: list[int] = []

    def run(src: Path, params: Path, work: Path, body: bytes, args: Any, pick: Any) -> dict[str, Any]:
        ports.extend([pick(), pick()])  # as the real run: the traffic port, then the probe port
        return {"resets": 0}

    def port_picker(ports: str) -> Any:  # probe_systems' own binds each port it gives: none here
        first, last = (int(p) for p in ports.split("-"))
        return iter(range(first, last + 1)).__next__

    # The server's run is replaced (no model, no server): what is checked is the ports it is given.
    bench["main"].__globals__.update(run=run, model_missing=lambda: None, port_picker=port_picker)
    argv = ["--rounds", "2", "--ports", "3190-3199", "--out", str(tmp_path)]
    assert bench["main"](argv) == 0
    assert ports == [3190, 3191, 3192, 3193]
    assert json.loads((tmp_path / "stop_resets.json").read_text())["resets_per_run"] == {"current": [0, 0]}
