"""What the smoke test costs its process: ``mlapp serving smoke`` as shipped beside scikit-learn imported.

    nice -n 10 uv run python benchmarks/smoke_cost.py [--repeats 10] [--out .bench/smoke_cost.json]

One server (``mlapp serving serve``: the model of ``models/`` from ``make run``, or
``MLAPP_MODEL_DIR``; free ports, its prediction log in a temporary folder) answers every run;
each run is ``mlapp serving smoke --url`` in a fresh process. ``current``: the command as
shipped, which loads xgboost with scikit-learn hidden (``supervise.import_xgboost_without_sklearn``);
``baseline``: the same command in a process that imported scikit-learn first, so xgboost loads
its scikit-learn classes as every smoke run did before. Both start from a launcher that
differs only in that import. Timed, alternated (A B, then B A, after an untimed warm-up round),
summarised and written as benchmarks/cli_latency.py does: per system wall and CPU seconds (the
child's user + sys), median, min and max; baseline / current of the medians and per repeat.
Writes JSON and the table as .md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench_http import model_missing, running
from cli_latency import markdown, measure
from mlapp.params import load_params
from mlapp.serving import MODEL_DIR_ENV, PREDICTION_LOG_ENV
from mlapp.serving.local import free_port
from revisions import REPO, result_head, write_result

LAUNCHER = "import sys\n{first}from mlapp.__main__ import main\n\nsys.exit(main())\n"
FIRST = {"current": "", "baseline": "import sklearn  # noqa: F401\n"}


def launchers(tmp: Path) -> None:
    """``{system}.py`` in ``tmp``: the ``mlapp`` entry point, scikit-learn imported first or not."""
    for system, first in FIRST.items():
        (tmp / f"{system}.py").write_text(LAUNCHER.format(first=first))


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per smoke run")
    parser.add_argument("--out", type=Path, default=Path(".bench/smoke_cost.json"))
    args = parser.parse_args(argv_)
    if missing := model_missing():
        print(missing, file=sys.stderr)
        return 2
    result = result_head(Path(__file__).name)
    params = REPO / "params.yaml"
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as folder:
        tmp = Path(folder)
        launchers(tmp)
        port = free_port()
        serve = [sys.executable, "-m", "mlapp", "--params", str(params), "serving", "serve"]
        serve += ["--port", str(port), "--probe-port", str(free_port())]
        env = {"BENTOML_HOME": str(tmp / "bentoml"), PREDICTION_LOG_ENV: str(tmp / "predictions.jsonl")}
        url = f"http://127.0.0.1:{port}"
        logs = REPO / ".bench" / "serving-logs"
        smoke = f"python {{tmp}}/{{system}}.py --params {params} serving smoke --url {url}"
        model = os.environ.get(MODEL_DIR_ENV) or REPO / load_params(params).train.model_dir
        smoke += f" --model-dir {model}"  # the one the server loads
        with running("smoke_cost", serve, f"{url}/readyz", env, logs):
            trees = dict.fromkeys(FIRST, REPO)
            result["orders"], result["commands"] = measure({"serving smoke": smoke}, trees, args, tmp)
    result |= {"repeats": args.repeats, "warmup": args.warmup, "systems": list(FIRST)}
    write_result(result, args.out, markdown)
    return 0 if all(row["status"] == "ok" for row in result["commands"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
