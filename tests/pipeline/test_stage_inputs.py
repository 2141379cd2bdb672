"""A stage's --input (or the table params.yaml names) that is not the table the stage before it
wrote: missing, empty, another format, another table. One `error:` line naming the file, exit 2,
no traceback, and nothing written. (A folder given as --input is click's usage error; one that
params.yaml names is the same error line as an empty file.)"""

from pathlib import Path

import pandas as pd
import pytest

from mlapp.cli import EXIT_ERROR
from mlapp.errors import UserError
from mlapp.tables import stage_table
from tests.conftest import REPO, run_main

BAD = {
    "missing": lambda path: None,
    "empty": lambda path: path.write_bytes(b""),
    "a CSV": lambda path: path.write_text("churned,tenure\n1,3\n"),
    "another table": lambda path: pd.DataFrame({"x": [1, 2]}).to_parquet(path),
}
SAYS = {
    "missing": "not found",
    "empty": "not a Parquet file",
    "a CSV": "not a Parquet file",
    "another table": "has no column 'churned'",
}

# Another --input than params.yaml's needs split's and train's outputs named (never written here).
OUTPUTS = {
    "split": ["--train", "out/train.parquet", "--test", "out/test.parquet"],
    "train": ["--model-dir", "out"],
}


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", ["split", "train", "tune", "evaluate"])
def test_a_stage_input_that_is_not_its_table_is_one_error_line(
    command: str,
    kind: str,
    reference_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "table.parquet"
    BAD[kind](table)
    option = "--test" if command == "evaluate" else "--input"
    argv = ["pipeline", command, option, str(table), *OUTPUTS.get(command, [])]
    if command == "evaluate":  # the model loads first: a real one, so the table is what fails
        argv += ["--model-dir", str(reference_project / "models"), "--no-mlflow"]
    before = sorted(p.name for p in tmp_path.iterdir())

    assert run_main(monkeypatch, *argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {table} ") and SAYS[kind] in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_folder_named_as_a_stage_table_is_not_read_as_a_dataset(tmp_path: Path) -> None:
    """pandas reads a folder of Parquet files as one table: split.train set to a folder would
    train on whatever the folder holds."""
    pd.DataFrame({"churned": [1, 0]}).to_parquet(tmp_path / "part.parquet")
    with pytest.raises(UserError, match=f"^{tmp_path} is not a Parquet file"):
        stage_table(tmp_path, ["churned"])


@pytest.mark.parametrize("kind", BAD)
def test_a_dask_training_input_is_checked_before_a_cluster_starts(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """train.engine dask reads its input itself, in partitions: it skipped the check the local
    engine's read makes, so a missing, empty or foreign table was a traceback from pyarrow."""
    import distributed

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("a LocalCluster was started for a table it cannot read")

    monkeypatch.setattr(distributed, "LocalCluster", started)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    params = (REPO / "params.yaml").read_text().replace("engine: local ", "engine: dask  ", 1)
    (tmp_path / "params.yaml").write_text(params)
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "table.parquet"
    BAD[kind](table)

    assert run_main(monkeypatch, "pipeline", "train", "--input", str(table), *OUTPUTS["train"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {table} ") and SAYS[kind] in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("given", [[], ["--input", "other.csv"]])
def test_validate_without_its_data_says_to_pull_it_and_keeps_the_report(
    given: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clone that never pulled data.dvc: validate said "the file failed exists" and replaced
    the committed report with a failed one."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "reports" / "validation.json"
    report.parent.mkdir()
    report.write_text('{"status": "passed"}\n')

    assert run_main(monkeypatch, "pipeline", "validate", *given, "--report", str(report)) == EXIT_ERROR
    err = capsys.readouterr().err
    fix = ": pull the data first (`uv run dvc pull data.dvc`; `make run` does)"
    assert err == ("error: other.csv not found\n" if given else f"error: data/churn.csv not found{fix}\n")
    assert report.read_text() == '{"status": "passed"}\n'


def test_a_stage_table_written_before_data_changed_says_to_run_the_stages_again(tmp_path: Path) -> None:
    """data.label renamed in params.yaml, then `mlapp pipeline split` run alone on the validated
    table of the old label: "not a table of this pipeline" did not say what to run first."""
    table = tmp_path / "validated.parquet"
    pd.DataFrame({"churned": [1, 0]}).to_parquet(table)
    with pytest.raises(UserError, match=r"has no column 'left'.*run the stages again \(`uv run dvc repro`\)"):
        stage_table(table, ["left"])
