"""mlapp.gha: step outputs and summaries for GitHub Actions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlapp import gha


@pytest.fixture(autouse=True)
def _outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", gha.OUTPUT_ENV, gha.SUMMARY_ENV):
        monkeypatch.delenv(name, raising=False)


def test_outputs_use_random_delimiters_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("earlier=1\n")
    hostile = "main\nretrain=true\nghadelimiter_x"  # a value that tries to inject another output
    assert (
        gha.set_outputs({"branch": hostile, "retrain": False, "tags": ["a:1", "b:2"], "n": 3}, path) == path
    )
    text = path.read_text()
    delimiters = re.findall(r"^\w+<<(ghadelimiter_[0-9a-f]{32})$", text, flags=re.MULTILINE)
    assert len(delimiters) == 4 and len(set(delimiters)) == 4
    assert gha.parse_outputs(text) == {
        "earlier": "1",
        "branch": hostile,
        "retrain": "false",
        "tags": "a:1\nb:2",
        "n": "3",
    }


def test_env_fallback_and_noop_outside_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert not gha.is_actions()
    assert gha.set_output("k", "v") is None
    assert gha.append_summary("# nothing") is None
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv(gha.OUTPUT_ENV, str(tmp_path / "o"))
    monkeypatch.setenv(gha.SUMMARY_ENV, str(tmp_path / "s"))
    assert gha.is_actions()
    gha.set_output("k", "v")
    gha.append_summary("# one")
    gha.append_summary("two\n")
    assert gha.parse_outputs((tmp_path / "o").read_text()) == {"k": "v"}
    assert (tmp_path / "s").read_text() == "# one\ntwo\n"


@pytest.mark.parametrize("key", ["", "a=b", "a<<b", "a\nb"])
def test_invalid_output_names_are_refused(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        gha.set_output(key, "v", tmp_path / "out")
