"""Fixtures the monitor's tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def in_project(reference_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(reference_project)  # params paths are relative to the repository root
    return reference_project
