"""data.decimal: a European export (fields split by ';', decimal commas: ``1;3,5;...``) validates,
trains, scores and is monitored like its ',' / '.' copy; the setting is written back where the
raw table is written (the sample, the retraining refresh); nonsense and mismatches are named."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlapp.errors import ParamsError
from mlapp.files import read_json
from mlapp.monitor.refresh import refresh
from mlapp.params import load_params
from mlapp.sample_data import generate, write
from mlapp.stages import validate
from tests.conftest import REPO, run_main
from tests.monitor.helpers import fresh
from tests.pipeline.test_csv_separator import _params, trains_and_scores

EUROPEAN = (";", ",")  # data.csv_separator, data.decimal


def _validate(frame: pd.DataFrame, sep: str, decimal: str, root: Path) -> tuple[int, Path]:
    """``frame`` written as the sample writer writes data.raw, validated with the same settings."""
    root.mkdir()
    source, out = root / "raw.csv", root / "validated.parquet"
    write(frame, source, sep, decimal)
    code = validate.run(_params(sep, decimal), source=source, output=out, report=root / "report.json")
    return code, out


def test_a_decimal_comma_table_validates_splits_and_trains_like_its_decimal_point_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = generate(600, 21)
    code, point = _validate(frame, ",", ".", tmp_path / "point")
    assert code == 0
    code, comma = _validate(frame, *EUROPEAN, tmp_path / "comma")
    assert code == 0
    header, first = (tmp_path / "comma" / "raw.csv").read_text().splitlines()[:2]
    charges = first.split(";")[header.split(";").index("monthly_charges")]
    assert "," in charges and "." not in charges, first  # the file really holds decimal commas
    pd.testing.assert_frame_equal(pd.read_parquet(comma), pd.read_parquet(point))
    monkeypatch.chdir(tmp_path)  # the split and model paths of params.yaml are relative
    trains_and_scores(_params(*EUROPEAN), comma)


@pytest.mark.parametrize(
    ("written", "read", "hint"),
    [
        # A European spreadsheet's export read with the default: the setting that reads it.
        (",", ".", "(decimal commas: set data.decimal: ',' in params.yaml, or export numbers with a "
                   "decimal point)"),
        # A '.' under decimal commas: 3.5 could be another export's, 1.234 thousands: no number.
        (".", ",", "(a decimal point, but data.decimal is ',': export decimal commas, or set "
                   "data.decimal: '.')"),
    ],
)  # fmt: skip
def test_numbers_written_with_the_other_decimal_mark_name_data_decimal(
    tmp_path: Path, written: str, read: str, hint: str
) -> None:
    root = tmp_path / "t"
    root.mkdir()
    write(generate(200, 22), root / "raw.csv", ";", written)
    code = validate.run(_params(";", read), source=root / "raw.csv", output=root / "v.parquet",
                        report=root / "report.json")  # fmt: skip
    assert code == 1
    checks = {p["column"]: p["check"] for p in read_json(root / "report.json")["problems"]}
    assert checks["monthly_charges"] == f"parse as float64 {hint}"


@pytest.mark.parametrize(
    ("sep", "decimal", "said"),
    [
        (",", ",", "data.decimal ',' is also data.csv_separator"),
        (";", ";", "data.decimal: ';': must be one of '.', ','"),
        (",", "", "data.decimal: empty ('')"),
    ],
)
def test_a_decimal_mark_that_cannot_be_read_is_a_params_error(
    tmp_path: Path, sep: str, decimal: str, said: str
) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(csv_separator=sep, decimal=decimal)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as refused:
        load_params(path)
    assert said in str(refused.value)


def test_a_refresh_appends_a_decimal_comma_batch_in_the_tables_own_notation(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retraining PR's refresh writes data.raw back as validate reads it: old rows
    byte-identical, new rows with decimal commas, and the whole table validates."""
    params_file = project / "params.yaml"
    raw = yaml.safe_load(params_file.read_text())
    raw["data"].update(csv_separator=";", decimal=",")
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    params = load_params(params_file)
    write(generate(3000, params.sample_data.seed), params.data.raw, *EUROPEAN)
    before = params.data.raw.read_text()
    batch = fresh(209, rows=300)
    write(batch, tmp_path / "batch.csv", *EUROPEAN)
    refresh(params, str(tmp_path / "batch.csv"))
    after = params.data.raw.read_text()
    assert after.startswith(before) and len(after.splitlines()) == len(before.splitlines()) + 300
    header, last = after.splitlines()[0], after.splitlines()[-1]
    charges = last.split(";")[header.split(";").index("monthly_charges")]
    assert float(charges.replace(",", ".")) == batch["monthly_charges"].iloc[-1] and "." not in charges
    outputs = ["--output", str(tmp_path / "v.parquet"), "--report", str(tmp_path / "v.json")]
    assert run_main(monkeypatch, "pipeline", "validate", *outputs) == 0  # in the project (``project``)
    assert read_json(tmp_path / "v.json")["rows"] == 3300
