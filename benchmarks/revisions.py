"""An older revision's view of this checkout's settings, for the benchmarks that run the code
before a change beside the current one (monitor_scale.py, monitor_memory.py)."""

from __future__ import annotations

from typing import Any


def params_for_old(current: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """This checkout's params as an older revision reads them: per section, a setting its own
    params.yaml lacks is left out (it refuses settings it does not know), one only it has keeps
    its value; every other setting is this checkout's, so both revisions run alike."""
    return {
        section: {key: current[section].get(key, value) for key, value in settings.items()}
        if isinstance(settings, dict) and isinstance(current.get(section), dict)
        else current.get(section, settings)
        for section, settings in old.items()
    }
