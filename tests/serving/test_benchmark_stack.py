"""benchmarks/serving_stack.py's ``bentoml-bare`` app is the service without BentoML's own
per-request middlewares: what stays is our request path, the figure it is compared by."""

from __future__ import annotations

import runpy
from typing import Any

from tests.conftest import REPO


def test_the_bare_stack_keeps_only_our_middlewares(service_app: Any) -> None:
    """timeout.py's ``CancelledTimeout`` is BentoML's request timeout in its place: kept (it was,
    matched by name), its task per request counted as our path's cost (1-row requests ~7% dearer)."""
    bench = runpy.run_path(str(REPO / "benchmarks" / "serving_stack.py"))
    kept = [m.cls.__name__ for m in service_app.user_middleware if not bench["bentoml_own"](m.cls)]
    assert kept == ["BearerAuth", "ModelHeaders"]
