"""The serving path never unpickles: the model is XGBoost's UBJSON plus JSON (``mlapp.model``).
BentoML's unpickler for request bodies (``_bentoml_impl.serde``, ``application/vnd.bentoml+pickle``)
serves ``@bentoml.api`` endpoints, and this service has none (``/predict`` and ``/metadata`` are
plain routes; admission answers a body that is not JSON with a 415); its other unpicklers are for
what this service does not use: calls between services (``bentoml.depends``) and 1.x runners.
Shown on the real server: every Python process it starts records its unpicklings
(``unpickling.py`` as their ``sitecustomize``; the workers are forks of the server, so guarded
too) while it loads the model, answers /predict, /metadata and a pickle body, and stops; and the
batch scorer, the image's other entry point."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mlapp.serving import PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from tests.conftest import running_server
from tests.serving.unpickling import INSTALLED, LOG_ENV

GUARD = Path(__file__).with_name("unpickling.py")


@pytest.fixture
def guarded(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment in which every Python process records its unpicklings in the returned log."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(GUARD, site / "sitecustomize.py")
    log = tmp_path / "unpickling.log"
    log.touch()
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, LOG_ENV: str(log), PREDICTION_LOG_ENV: str(tmp_path / "p.jsonl")}
    return env, log


def unpicklings(log: Path) -> tuple[set[str], list[str]]:
    """(the processes the guard ran in, what they unpickled)."""
    entries = log.read_text().split("--- pid ")[1:]
    installed = {e.split(":")[0] for e in entries if e.strip().endswith(f": {INSTALLED}")}
    return installed, [e for e in entries if not e.strip().endswith(f": {INSTALLED}")]


def test_the_guard_sees_an_unpickling_in_a_process_it_is_installed_in(guarded) -> None:
    env, log = guarded
    data = pickle.dumps({"plain": [1, 2]})  # no class in it: only the wrapped pickle.loads sees it
    code = f"import pickle, pathlib; pickle.loads({data!r}); pickle.loads(pickle.dumps(pathlib.Path()))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    installed, seen = unpicklings(log)
    assert len(installed) == 1
    assert [e.split("\n")[0].split(": ", 1)[1] for e in seen] == [
        "pickle.loads",
        "pickle.loads",
        "pickle.find_class('pathlib', 'PosixPath')",
    ], seen


@pytest.mark.slow
def test_the_batch_scorer_loads_and_scores_without_unpickling(serving_root: Path, frame, guarded) -> None:
    """The image's other entry point, `mlapp serving score`: the same model files, a file in, Parquet out."""
    env, log = guarded
    batch, out = log.with_name("batch.csv"), log.with_name("scored.parquet")
    frame.head(50).to_csv(batch, index=False)
    argv = [sys.executable, "-m", "mlapp", "--params", "params.yaml", "serving", "score"]
    subprocess.run(
        [*argv, "--input", str(batch), "--output", str(out)], cwd=serving_root, env=env, check=True
    )
    installed, seen = unpicklings(log)
    assert out.is_file()
    assert len(installed) == 1
    assert seen == []


@pytest.mark.slow
def test_the_server_loads_answers_and_stops_without_unpickling(serving_root: Path, records, guarded) -> None:
    env, log = guarded
    port = free_port()
    argv = [sys.executable, "-m", "mlapp", "--params", "params.yaml", "serving", "serve", "--port", str(port)]
    server_log = log.with_name("server.log")
    with (
        running_server(argv, port, serving_root, server_log, env=env) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert http.post("/predict", json={"records": records[:20]}).status_code == 200
        assert http.post("/metadata", json={}).status_code == 200
        body = pickle.dumps({"records": records[:1]})
        assert (
            http.post(
                "/predict", content=body, headers={"content-type": "application/vnd.bentoml+pickle"}
            ).status_code
            == 415
        )
    installed, seen = unpicklings(log)
    assert installed, server_log.read_text()  # the server; its workers are forks of it: guarded too
    assert seen == []
