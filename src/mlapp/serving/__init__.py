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
PROBE_HOST_ENV = "MLAPP_PROBE_HOST"  # set by supervise.py: workers bind serving.probe_port there
TRAFFIC_PORT_ENV = "MLAPP_TRAFFIC_PORT"  # set by supervise.py: probes.py reads its listen queue
PROBE_PORT_ENV = "MLAPP_PROBE_PORT"  # set by supervise.py: serving.probe_port, or its --probe-port


def service_command(
    params_path: Path, port: int, host: str, model_dir: Path | None = None, probe_port: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """BentoML's server for the source tree (``supervise.py``: ``bentoml serve`` whose workers
    are forks of the server, a dead one replaced at once), and the environment that points it
    at params + model. ``probe_port``: the probes' port instead of ``serving.probe_port``."""
    env = {**os.environ, PARAMS_ENV: str(params_path.resolve())}
    if model_dir is not None:
        env[MODEL_DIR_ENV] = str(model_dir.resolve())
    argv = [sys.executable, "-m", "mlapp.serving.supervise", "--port", str(port), "--host", host]
    if probe_port is not None:
        argv += ["--probe-port", str(probe_port)]
    return argv, env
