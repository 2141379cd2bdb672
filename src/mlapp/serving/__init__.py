"""Serving: the BentoML service, its request model, bento build and smoke test.

This module stays import-light (the CLI imports it); bentoml loads in ``service``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SERVICE = "mlapp.serving.service:ModelService"
PARAMS_ENV = "MLAPP_PARAMS"  # params.yaml the service reads (default: ./params.yaml)
MODEL_DIR_ENV = "MLAPP_MODEL_DIR"  # model folder (default: params train.model_dir)
PREDICTION_LOG_ENV = "MLAPP_PREDICTION_LOG"  # sampled prediction log (default: params serving.log_path)
SERVER_ENV = "MLAPP_SERVER_PROCESS"  # set by supervise.py: this process and its workers only serve


def import_xgboost_without_sklearn() -> None:
    """Import xgboost with scikit-learn hidden, in a process that only serves.

    xgboost imports scikit-learn (and with it scipy.stats) whenever it is installed, for
    estimator classes the service never uses: about a third of a worker's start-up CPU
    (8.4 -> 5.7 s measured on a loaded machine), which is the time a one-worker server is
    down after a crash. The serving image has no
    scikit-learn; from the full environment, the server hides it while xgboost loads.
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # import sklearn -> ImportError
    try:
        import xgboost  # noqa: F401
    finally:
        del sys.modules["sklearn"]


if os.environ.get(SERVER_ENV):
    import_xgboost_without_sklearn()


def service_command(
    params_path: Path, port: int, host: str, model_dir: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """BentoML's server for the source tree (``supervise.py``: ``bentoml serve`` whose workers
    are forks of the server, a dead one replaced at once), and the environment that points it
    at params + model."""
    env = {**os.environ, PARAMS_ENV: str(params_path.resolve())}
    if model_dir is not None:
        env[MODEL_DIR_ENV] = str(model_dir.resolve())
    argv = [sys.executable, "-m", "mlapp.serving.supervise", "--port", str(port), "--host", host]
    return argv, env
