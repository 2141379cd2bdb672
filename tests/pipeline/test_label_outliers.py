"""A regression label with a few typos (a price x1000): validate passed it without a word, the
model chased them (5 trees, r2 -5,000 on test) and only evaluate's r2 note hinted at the label."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlapp.files import read_json
from mlapp.params import load_params
from mlapp.stages import validate
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = params_for(load_params(REPO / "params.yaml"), "regression")


def _validate(frame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    assert validate.run(PARAMS, source=source, output=tmp_path / "v.parquet", report=tmp_path / "r.json") == 0
    return read_json(tmp_path / "r.json")["label_outliers"], capsys.readouterr().out


def test_labels_far_outside_the_rest_are_counted_and_named_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table("regression", 400)
    frame.loc[[7, 30, 250], "churned"] = frame.loc[[7, 30, 250], "churned"] * 1000 + [1e6, 2e6, 3e6]
    far, out = _validate(frame, tmp_path, capsys)

    assert far["count"] == 3
    assert far["rows"] == [250, 30, 7]  # the farthest first
    assert far["values"] == [float(frame.loc[row, "churned"]) for row in (250, 30, 7)]
    assert "3 label value(s) beyond 10 interquartile ranges of the quartiles" in out
    assert "row 250: " in out and "train.regression_objective: pseudohubererror" in out


def test_a_label_without_far_values_passes_without_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    far, out = _validate(table("regression", 400), tmp_path, capsys)

    assert far["count"] == 0 and far["rows"] == []
    assert "label value(s)" not in out


def test_a_positive_heavy_tailed_label_is_pointed_to_the_log_link_losses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table("regression", 400)
    frame["churned"] = frame["churned"].abs() + 1  # a price: every label above 0
    frame.loc[[7, 30], "churned"] = [5e7, 9e8]
    _, out = _validate(frame, tmp_path, capsys)
    assert "a positive, skewed label (prices, claims): tweedie or gamma" in out
    frame.loc[40, "churned"] = -3.0  # a refund: neither log-link loss fits it
    _, out = _validate(frame, tmp_path, capsys)
    assert "pseudohubererror" in out and "tweedie" not in out


def test_a_count_label_with_zeros_is_pointed_to_tweedie_not_gamma(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DoctorContacts' yearly visits (mostly 0 to 4, a few over 70): no log-link loss was named,
    though tweedie fits a count with zeros (gamma refuses a 0)."""
    frame = table("regression", 400)
    frame["churned"] = (frame["churned"].abs() * 3).round() % 5  # visits: 0 to 4
    frame.loc[[7, 30, 99], "churned"] = [77.0, 76.0, 0.0]
    _, out = _validate(frame, tmp_path, capsys)
    assert "2 label value(s) beyond" in out
    assert "none below 0 (visits, claims): tweedie (gamma needs every label above 0)" in out
