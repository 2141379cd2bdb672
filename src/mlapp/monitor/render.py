"""The Markdown view of a monitor report: the retraining PR's body and the job summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlapp.markdown_table import code_cell, code_span, markdown_table, number
from mlapp.monitor.logs import CUT_LINE
from mlapp.tolerances import tolerance_text

HEADLINE = {"retrain": "RETRAIN recommended", "ok": "no action", "invalid": "invalid batch"}


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _num(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _invalid(report: dict[str, Any]) -> list[str]:
    lines = [
        f"Batch {code_span(report['source'])} ({report['rows']} rows) fails the checks below; nothing "
        "was compared. Fix the source, or the schema (`src/mlapp/schema.py`) for a column's rule.",
        "",
    ]
    rows = [
        [
            code_cell(p["column"]),
            code_cell(p["check"]),
            str(p["count"]),
            code_cell(p["values"]),
            str(p["rows"]),
        ]
        for p in report["problems"]
    ]
    header = ["column", "rule", "failing", "examples", "rows (0-based)"]
    return [*lines, *markdown_table(header, rows, "llrll")]


RULE_TEXT = {
    "severe_feature": ("one feature's PSI", "severe_psi"),
    "drifted_importance": ("drifted features' share of the model's gain", "drifted_importance"),
    "drifted_share": ("share of features drifted", "drifted_share"),
    "prediction_shift": ("prediction PSI", "prediction_psi"),
    "metric_decay": ("watched metrics decayed", "decay_tolerance"),
}


_SHARES = ("drifted_importance", "drifted_share")
# What served.max_score_difference measures, by the log field compared, and the scale of the
# difference that is no float noise: a probability's ~1e-6; a prediction (float32: ~7 significant
# digits) in the label's own unit, so relative to its size.
COMPARED = {
    "probability": ("scores (P(positive))", ""),
    "probabilities": ("class probabilities (any class)", ""),
    "prediction": ("predictions (in the label's unit)", " of the predictions' size"),
}


def _rule_number(rule: str, value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    return _pct(value) if rule in _SHARES else format(value, "g" if rule == "metric_decay" else spec)


def _rules(report: dict[str, Any]) -> list[str]:
    """Every rule with its number and threshold: why it decided, and why not."""
    rows = []
    for rule in report["rules"]:
        what, setting = RULE_TEXT[rule["rule"]]
        value = _rule_number(rule["rule"], rule["value"], ".3f")  # PSI as the tables below show it
        limit = "off" if rule["threshold"] is None else _rule_number(rule["rule"], rule["threshold"], "g")
        names = ", ".join(rule["names"][:10]) + (" …" if len(rule["names"]) > 10 else "")
        verdict = "**RETRAIN**" if rule["triggered"] else "no"
        rows.append([what, value, f"{limit} (`{setting}`)", code_cell(names) if names else "", verdict])
    header = ["rule (any one retrains)", "value", "retrain at", "features / metrics", "triggered"]
    return ["### Rules", "", *markdown_table(header, rows, "lrlll")]


def _features(report: dict[str, Any]) -> list[str]:
    drifted = report["drifted_features"]
    weights = report["importance"] or {}
    lines = [f"### Features: {len(drifted)} of {len(report['features'])} drifted", ""]
    rows = [
        [
            f"**{code_cell(f['feature'])}**" if f["drifted"] else code_cell(f["feature"]),
            f["kind"],
            _pct(weights[f["feature"]]) if f["feature"] in weights else "-",
            f"{f['psi']:.3f}",
            _num(f["ks_statistic"]),
            _num(f["ks_pvalue"], ".1e"),
            f"{_pct(f['missing_reference'])} → {_pct(f['missing_batch'])}",
            code_cell(f["largest_change"]),
            "yes: " + ", ".join(f["why"]) if f["drifted"] else "no",
        ]
        for f in sorted(report["features"], key=lambda f: (-f["psi"], f["feature"]))
    ]
    header = ["feature", "kind", "gain share", "PSI", "KS D", "KS p", "missing (ref → batch)",
              "largest change", "drifted"]  # fmt: skip
    return [*lines, *markdown_table(header, rows, "llrrrrlll")]


def _prediction(report: dict[str, Any]) -> list[str]:
    p = report["prediction"]
    rows = [["mean score", f"{p['mean_reference']:.3f}", f"{p['mean_batch']:.3f}"]]
    if p.get("positive_rate_reference") is not None:
        rows.append(
            [
                "share at or above the decision threshold",
                _pct(p["positive_rate_reference"]),
                _pct(p["positive_rate_batch"]),
            ]
        )
    for name, share in (p.get("class_shares_reference") or {}).items():
        rows.append([f"predicted {code_cell(name)}", _pct(share), _pct(p["class_shares_batch"][name])])
    return [
        f"### Prediction distribution: PSI {p['psi']:.3f} (retrain at {p['threshold']}), "
        f"KS D {p['ks_statistic']:.3f}",
        "",
        *markdown_table(
            ["", f"reference ({p.get('reference_rows', '?')} scored rows)", "batch"],
            rows,
        ),
    ]


def _decay(report: dict[str, Any]) -> list[str]:
    decay = report["decay"]
    title = f"### Metric decay ({report['labeled_rows']} labeled rows)"
    if decay["status"] != "checked":
        return [title, "", f"Not checked: {decay['why']}."]
    rows = [
        [
            m["metric"],
            number(m["reference"]),
            number(m["batch"]),
            "—" if m.get("batch_low") is None else f"{number(m['batch_low'])} to {number(m['batch_high'])}",
            number(m["change"], signed=True),
            tolerance_text(m["tolerance"], m["reference"], "metrics.json's"),
            "**yes**" if m["decayed"] else "no",
        ]
        for m in decay["metrics"]
    ]
    header = ["metric", "metrics.json", "batch", "batch's interval", "change", "tolerance", "decayed"]
    note = "Decayed: worse by more than the tolerance, with metrics.json's value outside the interval."
    kept = report.get("thresholds", {}).get("decay_bootstrap_rows")
    if kept is not None and report["labeled_rows"] > kept:  # tally.LabeledSample: say so
        note += (
            f" The batch's metrics and interval are those of a seeded random sample of {kept} of the "
            f"{report['labeled_rows']} labeled rows (monitor.decay_bootstrap_rows)."
        )
    return [title, "", *markdown_table(header, rows, "lrrrrrl"), "", note]


def _served(report: dict[str, Any]) -> list[str]:
    served = report["served"]
    if not served:
        return []
    versions = ", ".join(f"{code_span(v)} ({n} rows)" for v, n in served["model_versions"].items())
    lines = [
        "### Served (prediction log)",
        "",
        f"Models that served: {versions}; current model {code_span(served['current_model_version'])}.",
    ]
    if served["max_score_difference"] is not None:
        what, scale = COMPARED[served["compared"]]
        lines.append(
            f"Largest difference between logged and recomputed {what}: {served['max_score_difference']:.2e} "
            f"(above ~1e-6{scale} means the service and the pipeline score the same rows differently)."
        )
    if served["cut_line"] is not None:
        lines.append(f"The log's {CUT_LINE.format(line=served['cut_line'])}.")
    return lines


def future_text(future: dict[str, Any] | None) -> str:
    """The rows dated after the run (monitor.json's ``future``), as the run's line says them; ""
    when there are none."""
    if not future or not future["rows"]:
        return ""
    ahead = timedelta(seconds=round(future["most_ahead_s"]))
    return (
        f"{future['rows']} row(s) dated after this run by up to {ahead} "
        f"(latest {future['latest']}, first rows {future['first_rows']})"
    )


def _future(report: dict[str, Any]) -> list[str]:
    if not (text := future_text(report["future"])):
        return []
    return [
        f"### Event times after this run ({code_span(report['future']['column'])})",
        "",
        f"{text[0].upper()}{text[1:]}: a serving node's clock ahead, or a unit error (milliseconds "
        "written as seconds, local time written as UTC). They are compared as the other rows are: "
        "their features were served.",
    ]


def _setting(value: Any) -> str:
    """A ``monitor:`` setting as the list shows it: a mapping (``psi_by_feature``,
    ``decay_tolerance``) as its names in code spans and their values, not Python's dict text
    ("{'discount_pct': 0.3}"); null is a rule turned off."""
    if isinstance(value, dict):
        return ", ".join(f"{code_span(name)} {limit}" for name, limit in value.items()) or "none"
    return "off" if value is None else str(value)


def markdown(report: dict[str, Any]) -> str:
    lines = [f"## Drift and decay report: {HEADLINE[report['status']]}", ""]
    if report["status"] == "invalid":
        return "\n".join([*lines, *_invalid(report)]) + "\n"
    ref = report["reference"]
    lines += [
        f"Batch {code_span(report['source'])} ({report['rows']} rows, {report['format']}) against the "
        f"training reference {code_span(ref['features'])} ({ref['feature_rows']} rows) and model "
        f"{code_span(ref['model_version'])}.",
        "",
    ]
    if report["retrain"]:
        lines += ["Retraining is recommended because:", *(f"- {r}" for r in report["reasons"]), ""]
    else:
        lines += ["No threshold was crossed.", ""]
    for section in (_rules, _features, _prediction, _decay, _served, _future):
        part = section(report)
        if part:
            lines += [*part, ""]
    lines += [
        "<details><summary>Thresholds (params.yaml <code>monitor:</code>)</summary>",
        "",
        *(f"- {code_span(k)}: {_setting(v)}" for k, v in sorted(report["thresholds"].items())),
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"
