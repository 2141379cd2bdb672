"""One rule for a table's name in every reader: a ``.tsv`` (compressed too) is read with tabs by
validate, the schema draft, the batch scorer and the monitor; a name none of them reads
(``.xlsx``, ``.json``) is one error naming the formats, not a spreadsheet parsed as a CSV."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlapp.errors import ParamsError, UserError
from mlapp.files import read_json
from mlapp.monitor.refresh import refresh
from mlapp.params import load_params
from mlapp.schema_draft import read
from mlapp.stages import validate
from mlapp.tables import read_frame
from tests.conftest import REPO, run_main
from tests.monitor.helpers import fresh

PARAMS = load_params(REPO / "params.yaml")


@pytest.fixture
def sample(reference_project: Path) -> pd.DataFrame:
    """The sample's first 300 rows as written."""
    return pd.read_csv(reference_project / "data" / "churn.csv", dtype=str, keep_default_na=False, nrows=300)


def _run(source: Path, root: Path) -> tuple[int, Path, Path]:
    out, report = root / f"{source.name}.parquet", root / f"{source.name}.json"
    return validate.run(PARAMS, source=source, output=out, report=report), out, report


@pytest.mark.parametrize("name", ["churn.tsv", "churn.TSV.gz"])
def test_a_tsv_validates_as_its_csv_copy(tmp_path: Path, sample: pd.DataFrame, name: str) -> None:
    """data.csv_separator stays ','; the name says tab (one column and findings about it before)."""
    frame = sample
    frame.to_csv(tmp_path / "churn.csv", index=False)
    text = frame.to_csv(sep="\t", index=False).encode()
    (tmp_path / name).write_bytes(gzip.compress(text, mtime=0) if name.endswith(".gz") else text)
    code, out, report = _run(tmp_path / name, tmp_path)
    assert code == 0, read_json(report)
    assert _run(tmp_path / "churn.csv", tmp_path)[0] == 0
    pd.testing.assert_frame_equal(read_frame(out), read_frame(tmp_path / "churn.csv.parquet"))
    drafted, _ = read(tmp_path / name, PARAMS.data, 100)
    assert list(drafted.columns) == list(frame.columns)


def test_a_tsv_holding_commas_is_told_to_be_named_csv(tmp_path: Path, sample: pd.DataFrame) -> None:
    source = tmp_path / "churn.tsv"
    sample.to_csv(source, index=False)
    code, _, report = _run(source, tmp_path)
    (problem,) = read_json(report)["problems"]
    assert code == 1 and problem["check"] == (
        "values separated by '\\t' (the header is one column holding ',': "
        "name the file .csv, with data.csv_separator: ',')"
    )


def test_a_tsv_lines_are_told_as_a_csv_s_are(
    tmp_path: Path, sample: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its non-UTF-8 line and what a row number means, as for a ``.csv``."""
    frame = sample.copy()
    frame.loc[5, "tenure_months"] = "lots"
    source = tmp_path / "churn.tsv"
    frame.to_csv(source, sep="\t", index=False)
    assert _run(source, tmp_path)[0] == 1
    assert "(CSV line = row + 2)" in capsys.readouterr().err
    lines = source.read_text().splitlines(keepends=True)
    source.write_bytes("".join([*lines[:3], "Ö" + lines[3], *lines[4:]]).encode("latin-1"))
    code, _, report = _run(source, tmp_path)
    check = read_json(report)["problems"][0]["check"]
    assert code == 1 and check.startswith("readable table (line 4 is not UTF-8 text ('Ö"), check


SAID = (
    "cannot tell the table format of 'data/churn{}' from its name: name it .csv or .tsv (either may be "
    "compressed: .gz, .bz2, .xz), .parquet or .pq"
)


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ".txt", ".parquet.gz", ""])
def test_data_raw_named_as_no_reader_reads_it_is_a_params_error(tmp_path: Path, suffix: str) -> None:
    settings = yaml.safe_load((REPO / "params.yaml").read_text())
    settings["data"]["raw"] = f"data/churn{suffix}"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(
        ParamsError,
        match=f"data.raw: {SAID.format(suffix)}".replace(".", r"\.").replace("(", r"\(").replace(")", r"\)"),
    ):
        load_params(tmp_path / "params.yaml")


def test_an_xlsx_data_raw_stops_validate_with_one_line_and_keeps_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI's entry point, as ``dvc repro`` runs it: a params error (exit 2), nothing
    written. In this process: a traceback would be the exception escaping ``main``."""
    settings = yaml.safe_load((REPO / "params.yaml").read_text())
    settings["data"]["raw"] = "data/churn.xlsx"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "churn.xlsx").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # a zip, as xlsx is
    monkeypatch.chdir(tmp_path)
    code, stderr = run_main(monkeypatch, "pipeline", "validate"), capsys.readouterr().err
    assert code == 2, stderr
    assert SAID.format(".xlsx") in stderr and "Traceback" not in stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("name", ["table.xlsx", "table.json"])
def test_a_table_passed_by_path_is_named_alike(tmp_path: Path, name: str) -> None:
    """``mlapp pipeline validate --input`` and ``mlapp template schema <path>`` read past params."""
    source = tmp_path / name
    source.write_text('[{"age": 1}]')
    code, _, report = _run(source, tmp_path)
    (problem,) = read_json(report)["problems"]
    assert code == 1 and problem["check"].startswith("readable table (cannot tell the table format of")
    with pytest.raises(UserError, match="cannot tell the table format of"):
        read(source, PARAMS.data, 100)


def test_generate_and_the_retraining_refresh_write_a_tsv_data_raw_with_tabs(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.raw is written as it is read: a .tsv with tabs, whatever data.csv_separator says."""
    settings = yaml.safe_load((project / "params.yaml").read_text())
    settings["data"]["raw"] = "data/churn.tsv"
    (project / "params.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    assert run_main(monkeypatch, "pipeline", "generate", "--rows", "3000") == 0  # in this process
    table = project / "data" / "churn.tsv"
    assert table.read_text().splitlines()[0].split("\t")[:2] == ["customer_id", "event_time"]
    batch = fresh(210, rows=300)
    batch.to_csv(tmp_path / "batch.tsv", sep="\t", index=False, date_format="%Y-%m-%dT%H:%M:%S")
    refresh(load_params(project / "params.yaml"), str(tmp_path / "batch.tsv"))
    lines = table.read_text().splitlines()
    assert len(lines) == 3301 and lines[-1].startswith("N210-000299\t")
    outputs = ["--output", str(tmp_path / "v.parquet"), "--report", str(tmp_path / "v.json")]
    assert run_main(monkeypatch, "pipeline", "validate", *outputs) == 0
    assert read_json(tmp_path / "v.json")["rows"] == 3300
