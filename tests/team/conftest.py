"""Team-scale fixtures: external servers named by environment variables.

`.ci/run` starts them (`.ci/services/*.sh`) and exports the variables. On a laptop without
them the tests skip with the reason; under CI (``CI=true``) a missing server is a failure,
never a silent skip.
"""

from __future__ import annotations

import os

import pytest


def require_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    message = f"{name} is not set: {what} (.ci/services/ starts it; see docs/team-mode.md)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")
