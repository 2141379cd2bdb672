"""A stage run by hand on another input than params.yaml's is a one-off: it never replaces the
pipeline's (DVC-tracked) outputs. validate and evaluate print their result and write only where
their output options say (evaluate logs no MLflow run); split and train refuse to run without
their outputs named. The pipeline's own input, however spelt, still writes the pipeline's."""

import json
import shutil
from pathlib import Path

import pytest

from mlapp import sample_data, tracking
from mlapp.cli import EXIT_ERROR
from tests.conftest import run_main


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def copy(reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the small project with every stage's outputs; the test runs inside it."""
    root = shutil.copytree(reference_project, tmp_path / "project")
    monkeypatch.chdir(root)
    return root


def _table(path: Path, rows: int = 300, **cells: object) -> Path:
    """A raw table of ``rows`` other customers, in the sample's format, the first row edited."""
    frame = sample_data.generate(rows, seed=7, first_id=10**6)
    for column, value in cells.items():
        frame = frame.astype({column: object})
        frame.loc[0, column] = value
    sample_data.write(frame, path, ",", ".")
    return path


def test_validate_of_another_table_prints_its_result_and_writes_nothing(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(copy)
    assert run_main(monkeypatch, "pipeline", "validate", "--input", str(_table(tmp_path / "other.csv"))) == 0
    out = capsys.readouterr().out
    assert "validation passed: 300 rows" in out and "nothing written (a one-off check" in out, out
    assert _files(copy) == before


def test_a_failing_one_off_validate_keeps_the_pipeline_s_report(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(copy)
    other = _table(tmp_path / "other.csv", age=150)
    assert run_main(monkeypatch, "pipeline", "validate", "--input", str(other)) == 1
    err = capsys.readouterr().err
    assert "in_range(18, 110)" in err and "full report" not in err, err
    assert _files(copy) == before


def test_a_one_off_validate_writes_where_its_options_say(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _files(copy)
    other, report = _table(tmp_path / "other.csv"), tmp_path / "other.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--input", str(other), "--report", str(report)) == 0
    assert json.loads(report.read_text())["rows"] == 300
    assert _files(copy) == before and not (tmp_path / "other.parquet").exists()


def test_the_pipeline_s_own_input_spelt_otherwise_writes_the_pipeline_s_outputs(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dvc.yaml passes every path; by hand `--input ./data/churn.csv` is still the stage."""
    (copy / "reports" / "validation.json").unlink()
    (copy / "artifacts" / "validated.parquet").unlink()
    source = str(copy / "data" / "churn.csv")
    assert run_main(monkeypatch, "pipeline", "validate", "--input", source) == 0
    assert (copy / "reports" / "validation.json").is_file() and (
        copy / "artifacts" / "validated.parquet"
    ).is_file()


@pytest.mark.parametrize(
    ("command", "needs"), [("split", "give --train and --test too"), ("train", "give --model-dir too")]
)
def test_split_and_train_of_another_table_need_their_outputs_named(
    command: str,
    needs: str,
    copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = shutil.copy(copy / "artifacts" / "split" / "train.parquet", tmp_path / "other.parquet")
    before = _files(copy)
    assert run_main(monkeypatch, "pipeline", command, "--input", str(table)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "a one-off run writes only where you say" in err and needs in err, err
    assert _files(copy) == before


def test_a_one_off_split_writes_where_its_options_say(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = shutil.copy(copy / "artifacts" / "validated.parquet", tmp_path / "other.parquet")
    before = _files(copy)
    parts = ["--train", str(tmp_path / "train.parquet"), "--test", str(tmp_path / "test.parquet")]
    assert run_main(monkeypatch, "pipeline", "split", "--input", str(table), *parts) == 0
    assert (tmp_path / "train.parquet").is_file() and (tmp_path / "test.parquet").is_file()
    assert _files(copy) == before


def test_evaluate_on_another_test_table_prints_its_metrics_and_logs_no_run(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run logged for the pipeline's model is the one `mlapp pipeline register` would take."""

    def logged(*args: object) -> None:
        raise AssertionError("a one-off evaluation reached MLflow")

    monkeypatch.setattr(tracking, "connect", logged)
    monkeypatch.setattr(tracking, "log_run", logged)
    table = shutil.copy(copy / "artifacts" / "split" / "train.parquet", tmp_path / "other.parquet")
    before = _files(copy)
    metrics = tmp_path / "metrics.json"
    assert run_main(monkeypatch, "pipeline", "evaluate", "--test", str(table), "--metrics", str(metrics)) == 0
    out = capsys.readouterr().out
    assert "evaluated binary on" in out and "no MLflow run: another --model-dir or --test" in out, out
    assert "roc_auc" in json.loads(metrics.read_text())
    assert _files(copy) == before
