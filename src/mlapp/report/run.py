"""`mlapp report run`: build the champion-vs-challenger report, write it, apply the gate.

The report is always written (Markdown, JSON, PNGs) before the gate is applied, so CI can
upload it whatever the outcome. Everything in it is a pure function of the two models, the
test rows and the repository state, except the values measured in this run (latency, how
the champion was obtained), which the Markdown keeps in one marked block at the end.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlapp import gha, git, plots
from mlapp import metrics as m
from mlapp.errors import UserError, redact
from mlapp.files import read_json, write_json, write_text
from mlapp.markdown_table import number
from mlapp.model import Model, load
from mlapp.params import Params, ReportParams, load_params
from mlapp.report import base_ref, changes, markdown, no_comparison, plot_data, pr_diff, rows, schema, verdict
from mlapp.report import gate as gate_check
from mlapp.report.champion import Champion, StaleOutputs, base_params_text, obtain, pr_stale_stages
from mlapp.report.policy import kept_bound
from mlapp.tables import read_frame

REPORT_JSON, REPORT_MD = "report.json", "report.md"


def latency_ms(models: dict[str, tuple[Model, pd.DataFrame]], repeats: int) -> dict[str, float]:
    """Median wall time of one batch prediction over each model's rows; the models take turns."""
    for model, frame in models.values():
        model.scores(frame)  # warm-up: first call pays for allocation
    samples: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):
        for name, (model, frame) in models.items():
            started = time.perf_counter()
            model.scores(frame)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def mlflow_runs(params: Params, shas: dict[str, tuple[str, str]]) -> dict[str, str | None]:
    """The MLflow run that logged each model (``shas``: its experiment and digest), if the store
    has one: the latest with its digest (the model.sha256 tag: booster and spec), a link for the
    reader. The base's experiment is the base's own: a PR renaming ``mlflow.experiment`` leaves
    the base's run under the old name."""
    uri = params.mlflow.resolved_tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return dict.fromkeys(shas)  # no local store yet (a fresh CI clone): skip importing MLflow
    try:
        from mlapp import tracking

        tracking.connect(params.mlflow)
        return {
            name: tracking.find_run(
                params.model_copy(
                    update={"mlflow": params.mlflow.model_copy(update={"experiment": experiment})}
                ),
                {"model.sha256": sha},
            )
            for name, (experiment, sha) in shas.items()
        }
    except Exception as exc:  # lineage is informative: never fail the report on it
        print(f"note: MLflow lookup skipped ({exc.__class__.__name__}: {redact(str(exc))})", file=sys.stderr)
        return dict.fromkeys(shas)


def model_facts(model: Model) -> dict[str, Any]:
    return {
        "sha256": model.sha256,
        "size_bytes": model.size_bytes,
        "trees": model.spec.best_iteration + 1,
        "task": model.task,
        "classes": model.spec.classes,
        "threshold": model.spec.threshold,
        "features": len(model.spec.features),
    }


def build(
    params: Params,
    params_text: str,
    root: Path,
    base: str | None,
    get_champion: Callable[[Path, str], Champion] = obtain,
) -> tuple[dict[str, Any], Champion]:
    """The report as data (report.json); ``get_champion`` is replaceable for tests."""
    base_commit, base_how = base_ref.resolve(root, base, params.report.default_base)
    stale = pr_stale_stages(root, str(params.train.model_dir))  # a reason when the model is stale
    challenger = load(params.train.model_dir)
    # What the base's params.yaml decides is refused first: its model takes minutes to obtain.
    verdict.refuse_early(base_params_text(root, base_commit), challenger, params)
    pr_train, pr_test = read_frame(params.split.train), read_frame(params.split.test)
    champion = get_champion(root, base_commit)

    task, classes = challenger.task, challenger.spec.classes
    kept = kept_bound(champion.params_text, params)  # named even where nothing is compared (a task switch)
    scored = verdict.scored(champion, challenger, pr_test, params, kept)
    judged = verdict.judge(champion, challenger, scored, params, params_text, kept)
    changed = pr_diff.against(root, base_commit, champion, pr_train, scored, params, params_text)
    warnings = pr_diff.warnings(root, changed, champion, scored, stale, judged.class_rows, classes)
    lineage = _lineage(root, (base_commit, base_how), champion, challenger, params)
    report = {
        "schema_version": schema.SCHEMA_VERSION,
        "task": task,
        "classes": classes,
        "verdict": judged.primary.change,
        "primary_metric": judged.primary.name,
        "gate": judged.gate.as_dict(),
        "metrics": [d.as_dict() for d in judged.deltas],
        "bootstrap": _bootstrap(judged.stats, scored, task),
        "warnings": warnings,
        "changes": pr_diff.section(changed, champion, pr_train, pr_test, params, task, classes),
        "curves": {
            "base": plot_data.curves(champion.model, scored.y, scored.base, params),
            "pr": plot_data.curves(challenger, scored.y, scored.pr, params),
        },
        "models": {"base": model_facts(champion.model), "pr": model_facts(challenger)},
        "lineage": lineage,
        "drift_rules": {
            "psi": params.monitor.psi,
            "bins": params.monitor.bins,
            "top": params.report.drift_top,
        },
        "calibration_bins": params.evaluate.calibration_bins,
        "run": _measured(champion, challenger, scored, params),
    }
    return report, champion


def _bootstrap(stats: ReportParams, scored: rows.Scored, task: str) -> dict[str, Any]:
    """How the intervals were drawn, and on what: the rows, their positives, whether the two
    models predicted alike (every interval then sits on zero)."""
    y = scored.y
    return {
        "resamples": stats.bootstrap_resamples,
        "seed": stats.bootstrap_seed,
        "confidence": stats.confidence,
        "rows": len(y),
        "paired_by": scored.paired_by,
        "positives": int(y.sum()) if task == "binary" else None,
        "identical_predictions": bool(np.array_equal(scored.base, scored.pr)),
    }


def _lineage(
    root: Path, base: tuple[str, str], champion: Champion, challenger: Model, params: Params
) -> dict[str, Any]:
    """Where each model comes from: its commit (the PR's: HEAD, and whether the tree differs
    from it) and the MLflow run that logged it, if any."""
    head = git.rev("HEAD", cwd=root) or "unknown"
    dirty = not git.ok("diff", "--quiet", "HEAD", "--", cwd=root)
    based = changes.params_value(champion.params_text, "mlflow", "experiment") or params.mlflow.experiment
    sides = {"base": (str(based), champion.model.sha256), "pr": (params.mlflow.experiment, challenger.sha256)}
    runs = mlflow_runs(params, sides)
    return {
        "base": {"commit": base[0], "chosen_as": base[1], "mlflow_run": runs["base"]},
        "pr": {"commit": head, "uncommitted_changes": dirty, "mlflow_run": runs["pr"]},
    }


def _measured(champion: Champion, challenger: Model, scored: rows.Scored, params: Params) -> dict[str, Any]:
    """What this run measured: it varies between runs, so the Markdown keeps it apart."""
    return {
        "latency_ms": latency_ms(
            {"base": (champion.model, scored.rows["base"]), "pr": (challenger, scored.rows["pr"])},
            params.report.latency_repeats,
        ),
        "latency_repeats": params.report.latency_repeats,
        "champion": {"how": champion.how, "seconds": champion.seconds},
    }


def write(report: dict[str, Any], out_dir: Path, max_chars: int) -> str:
    """report.json, report.md and the PNG plots; returns the Markdown."""
    schema.parse(report, "the report being written")  # a renamed key fails before any file is written
    clear(out_dir)
    write_json(report, out_dir / REPORT_JSON)
    text = markdown.render(report, max_chars)
    write_text(text, out_dir / REPORT_MD)
    plots.render_all({"base": report["curves"]["base"], "PR": report["curves"]["pr"]}, out_dir)
    return text


def clear(out_dir: Path) -> None:
    """An earlier run's report and plots go (another task's ROC beside this regression report),
    not the folder's committed .gitignore: deleted, `git add -A` committed the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [out_dir / REPORT_JSON, out_dir / REPORT_MD, *out_dir.glob("*.png")]:
        stale.unlink(missing_ok=True)


def main(
    params_path: Path,
    *,
    base: str | None,
    out_dir: Path,
    enforce_gate: bool,
    summary: Path | None,
) -> int:
    # First: whatever stops the report (an invalid params.yaml too), an earlier run's report.md is
    # never taken for this one's, nor its report.json by `mlapp report gate`.
    clear(out_dir)
    params = load_params(params_path)
    params_text = params_path.read_text()  # the PR's params go into the report verbatim
    root = Path(git.output("rev-parse", "--show-toplevel"))
    started = time.perf_counter()
    try:
        report, champion = build(params, params_text, root, base)
    except UserError as exc:  # still a report (and PR comment) saying why, without a stale report.json
        metrics_file = params.evaluate.metrics
        own = m.flat(read_json(metrics_file)) if metrics_file.is_file() else {}
        stale = isinstance(exc, StaleOutputs)  # metrics.json is the earlier model's too: not shown
        text = no_comparison.render(str(exc), own, str(metrics_file), stale)
        write_text(text, out_dir / REPORT_MD)
        gha.append_summary(text, summary)
        raise
    report["run"]["seconds"] = round(time.perf_counter() - started, 1)
    text = write(report, out_dir, params.report.max_chars)
    gha.append_summary(text, summary)
    typed = schema.parse(report)
    primary = typed.primary()
    print(
        f"report: {out_dir / REPORT_MD} ({len(text):,} chars); verdict: {typed.verdict} "
        f"({primary.name} {number(primary.delta, True)}, "
        f"CI [{number(primary.ci_low, True)}, {number(primary.ci_high, True)}]); "
        f"champion {champion.how} in {champion.seconds} s"
    )
    print(gate_check.message(typed.gate), file=sys.stdout if typed.gate.passed else sys.stderr)
    return 1 if enforce_gate and not typed.gate.passed else 0
