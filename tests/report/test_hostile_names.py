"""Class and feature names come from the data: in the PR comment they are text, never markup.

A name holding ``|`` split its table row, ``<script>``/``**`` became HTML or bold (GitHub drops
the tag, so the class vanished from its own row), a line break ended the row.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

from mlapp.markdown_table import code_cell, text_cell
from mlapp.report import markdown
from tests.report.helpers import cells, table_blocks
from tests.report.test_changes import _metric_rows, _row

HOSTILE = ["stay | `a`", "<script>alert(1)</script>", "**bold** @team #12 ~~x~~", "two\nlines"]


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
    # an ordinary class reads as before
    text = _metric_rows("multiclass", ["a", "b"], {"base": {"a": 1}, "pr": {"a": 1}},
                        [_row("f1_macro", 0.6, 0.5), _row("per_class.b.recall", 0.4, 0.0)])  # fmt: skip
    assert "| per_class.b.recall | 0.4000 | 0.0000 |" in text


def _drift_report(features: list[str]) -> dict[str, Any]:
    drift = [
        {"feature": f, "psi": 0.3, "ks_statistic": 0.2, "largest_change": "a | b: 1% -> 9%", "drifted": True}
        for f in features
    ]
    return {"changes": {"drift": drift}, "drift_rules": {"top": 10, "bins": 10, "psi": 0.2}}


def test_feature_names_in_the_drift_table_keep_its_rows_whole() -> None:
    features = ["score | `q` **b**", "âge\nnew"]
    text = "\n".join(markdown._drift(_drift_report(features), None))
    _assert_one_table_of(text, 5)
    assert [row[0] for row in _cells_as_rendered(text)[1:]] == ["score | 'q' **b**", "âge new"]


def test_cells_hold_one_line_and_plain_names_are_unchanged() -> None:
    assert code_cell("a\r\nb\nc") == "`a b c`"
    assert text_cell("x\ny") == "x y"
    assert text_cell("churned") == "churned" and text_cell("Gentoo") == "Gentoo"
