"""Class and feature names come from the data: in the PR comment and the monitor's report they
are text, never markup, in tables and in prose alike.

A name holding ``|`` split its table row, ``<script>``/``**`` became HTML or bold (GitHub drops
the tag, so the class vanished from its own row), a line break ended the row; outside tables a
name was pasted as written (``@org/team`` pinged a team, ``#12`` linked an issue), and a backtick
in a code span ended it early.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mlapp.markdown_table import code_cell, code_span
from mlapp.monitor import decision, render
from mlapp.monitor.rows import FeatureDrift
from mlapp.params import load_params
from mlapp.report import caveats, changes, markdown, task_markdown
from tests.monitor.test_decision import CALM
from tests.report.helpers import cells, table_blocks
from tests.report.test_changes import _metric_rows, _row

HOSTILE = ["stay | `a`", "<script>alert(1)</script>", "**bold** @team #12 ~~x~~", "two\nlines"]
# The names the reports are checked on, one per kind of markup.
NAMES = ["a | b", "`x`", "<img src=x>", "**b**", "@org/team", "line\nbreak", "$\\alpha$", "[x](y) #12", "``"]
MARKUP = {"html_inline", "html_block", "link_open", "em_open", "s_open", "image"}
OURS = {"<sub>", "</sub>"}  # the report's own HTML around its notes
REPO = Path(__file__).resolve().parents[2]


def _tokens(text: str) -> list[Token]:
    return [
        child
        for token in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text)
        for child in [token, *(token.children or [])]
    ]


def _assert_names_literal(text: str, names: list[str]) -> None:
    """Each name renders as one code span holding it as written (a line break as a space), and
    none of it reaches the text markdown-it (and GitHub's mention and reference links) reads."""
    tokens = _tokens(text)
    spans = [t.content for t in tokens if t.type == "code_inline"]
    for name in names:
        assert name.replace("\n", " ") in spans, (name, spans)
    assert not [t for t in tokens if t.type in MARKUP and t.content not in OURS], text
    prose = " ".join(t.content for t in tokens if t.type == "text")
    for fragment in ("@org", "#12", "<img", "alpha", "**b**", "`x`"):
        assert fragment not in prose, (fragment, prose)


def _cells_as_rendered(text: str) -> list[list[str]]:
    """Each table row's cells as GitHub shows them (text, markup resolved), via markdown-it."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    rows: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and tokens[i - 1].type in ("td_open", "th_open"):
            rendered = "".join(c.content for c in token.children or [] if c.type in ("text", "code_inline"))
            rows[-1].append(rendered if len(token.children or []) == 1 else f"<markup>{rendered}")
    return rows


def _assert_one_table_of(text: str, columns: int) -> None:
    blocks = table_blocks(text)
    assert len(blocks) == 1, blocks
    assert {cells(row) for row in blocks[0]} == {columns}, blocks[0]


def test_class_names_in_per_class_metric_rows_are_text() -> None:
    rows = [_row("f1_macro", 0.6, 0.5), *(_row(f"per_class.{c}.recall", 0.5, 0.5) for c in HOSTILE)]
    each = {c: 1 for c in HOSTILE}
    text = _metric_rows("multiclass", HOSTILE, {"base": each, "pr": each}, rows)
    _assert_one_table_of(text, 6)
    shown = [row[0] for row in _cells_as_rendered(text)[2:]]
    assert shown == [f"per_class.{c.replace(chr(10), ' ')}.recall" for c in HOSTILE]
    # as code: a backslash-escaped ``@org/team`` or ``#12`` is still linked by GitHub
    rows = [_row("f1_macro", 0.6, 0.5), *(_row(f"per_class.{c}.recall", 0.5, 0.5) for c in NAMES)]
    each = {c: 1 for c in NAMES}
    text = _metric_rows("multiclass", NAMES, {"base": each, "pr": each}, rows)
    _assert_names_literal(text, [f"per_class.{c}.recall" for c in NAMES])


def _drift_report(features: list[str], level: str = "a | b") -> dict[str, Any]:
    drift = [
        {"feature": f, "psi": 0.3, "ks_statistic": 0.2, "largest_change": f"{level}: 1%", "drifted": True}
        for f in features
    ]
    return {"changes": {"drift": drift}, "drift_rules": {"top": 10, "bins": 10, "psi": 0.2}}


def test_feature_names_in_the_drift_table_keep_its_rows_whole() -> None:
    features = ["score | `q` **b**", "âge\nnew"]
    text = "\n".join(markdown._drift(_drift_report(features), None))
    _assert_one_table_of(text, 5)
    assert [row[0] for row in _cells_as_rendered(text)[1:]] == ["score | `q` **b**", "âge new"]


def test_drift_summary_and_largest_change_show_names_as_written() -> None:
    """The summary above the table pasted the drifted features as written; the largest change
    (a category level) escaped only ``|``."""
    for level in NAMES:
        text = "\n".join(markdown._drift(_drift_report(NAMES, level), None))
        _assert_one_table_of(text, 5)
        _assert_names_literal(text, [*NAMES, f"{level.replace(chr(10), ' ')}: 1%"])


def test_never_predicted_classes_and_few_rows_warning_show_names_as_written() -> None:
    classes = ["ok", *NAMES]
    confusion = [{"actual": c, "predicted": "ok", "count": 1} for c in classes]
    report = {"classes": classes, "curves": {side: {"confusion": confusion} for side in ("base", "pr")}}
    text = "\n".join(task_markdown.multiclass(report, compact=True))
    prose = "\n".join(line for line in text.splitlines() if line.startswith("The PR model predicts no"))
    assert "\\" not in prose.replace("$\\alpha$", "")  # no table escape inside a code span
    _assert_names_literal(prose, NAMES)
    warning = caveats.few_test_rows(np.arange(len(NAMES)), NAMES, 5)
    assert warning is not None
    _assert_names_literal(warning, NAMES)


def test_monitor_report_shows_feature_names_as_written() -> None:
    monitor = load_params(REPO / "params.yaml").monitor.model_copy(update={"severe_psi": 0.5})
    features = [FeatureDrift(n, "numeric", 0.9, 0.2, 0.5, 0.0, 0.0, 0.0, "-", True, ["PSI"]) for n in NAMES]
    made = decision.decide(features, {n: 1 / len(NAMES) for n in NAMES}, CALM, [], monitor)
    assert made.retrain
    for reason in made.reasons[:3]:  # severe feature, gain share, share drifted: each lists names
        _assert_names_literal(f"- {reason}", NAMES)
    rows = [{"feature": n, "kind": "numeric", "psi": 0.9, "ks_statistic": 0.5, "ks_pvalue": 0.0,
             "missing_reference": 0.0, "missing_batch": 0.0, "largest_change": n, "drifted": True,
             "why": ["PSI"]} for n in NAMES]  # fmt: skip
    text = "\n".join(render._features({"drifted_features": NAMES, "features": rows, "importance": None}))
    assert {cells(row) for row in table_blocks(text)[0]} == {9}
    _assert_names_literal(text, NAMES)


def test_code_spans_take_a_longer_fence_for_backticks_and_plain_names_are_unchanged() -> None:
    assert code_span("`x`") == "`` `x` ``" and code_span("a``b") == "```a``b```"
    assert code_cell("a\r\nb\nc") == "`a b c`" and code_cell("a | b") == "`a \\| b`"
    assert code_span("churned") == "`churned`" and code_cell(None) == "—"


def test_params_keys_and_values_holding_column_names_keep_the_table_whole() -> None:
    """A column's name is a key of validate.max_null_share_by_column: the key cell was pasted
    into a code span as written, so ``|`` split the row and a backtick ended the span."""
    keyed = ", ".join(f"{json.dumps(name)}: 0.8" for name in NAMES)
    pr = f"validate:\n  max_null_share_by_column: {{{keyed}}}\n  max_failure_examples: {json.dumps(NAMES)}\n"
    frame = pd.DataFrame({"y": [0, 1]})
    facts = {"md5": "a", **changes.table_facts(frame, frame, "y", "binary", ["0", "1"])}
    data = {"base": facts, "pr": facts, "same_training_rows": True}
    report = {"task": "binary", "classes": ["0", "1"]}
    report["changes"] = {"params": changes.params_diff("validate: {max_failure_examples: 5}\n", pr),
                         "src": [], "pipeline_files": [], "data": data}  # fmt: skip
    lines = markdown.what_changed(report, compact=False)
    text = "\n".join(lines[: lines.index("**Data**")])  # the params table alone
    _assert_one_table_of(text, 3)
    _assert_names_literal(text, [f"validate.max_null_share_by_column.{name}" for name in NAMES])
