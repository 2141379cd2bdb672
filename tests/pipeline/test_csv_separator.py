"""data.csv_separator: a ';'-separated export (as many European spreadsheets save one) is read
as the same table as its ',' copy, through validate, split and train; nonsense is refused."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlapp.errors import ParamsError
from mlapp.files import read_json
from mlapp.model import load
from mlapp.monitor import run
from mlapp.params import Params, load_params
from mlapp.sample_data import generate
from mlapp.stages import split, train, validate
from tests.conftest import REPO
from tests.monitor.helpers import drifted

PARAMS = load_params(REPO / "params.yaml")


def _params(sep: str, decimal: str = ".") -> Params:
    data = PARAMS.data.model_copy(update={"csv_separator": sep, "decimal": decimal})
    xgb = PARAMS.train.xgboost.model_copy(update={"n_estimators": 20})  # small and fast
    return PARAMS.model_copy(update={"data": data, "train": PARAMS.train.model_copy(update={"xgboost": xgb})})


def _validate(frame: pd.DataFrame, sep: str, params: Params, root: Path) -> tuple[int, Path]:
    """``frame`` saved with ``sep``, validated with ``params``: exit code and validated table."""
    root.mkdir()
    source, out = root / "raw.csv", root / "validated.parquet"
    frame.to_csv(source, sep=sep, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    return validate.run(params, source=source, output=out, report=root / "report.json"), out


def trains_and_scores(params: Params, validated: Path) -> None:
    """Split and train on the ``validated`` table; the model scores the test rows. The split and
    model paths of ``params`` are relative: the caller changes into a folder of its own first."""
    split.run(params, source=validated, train_path=params.split.train, test_path=params.split.test)
    train.run(params, source=params.split.train, model_dir=params.train.model_dir)
    test = pd.read_parquet(params.split.test)
    scores = load(params.train.model_dir).predict_proba(test)
    assert len(scores) == len(test) > 0 and ((scores >= 0) & (scores <= 1)).all()


def test_a_semicolon_table_validates_splits_and_trains_like_its_comma_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = generate(600, 11)
    code, comma = _validate(frame, ",", _params(","), tmp_path / "comma")
    assert code == 0
    code, semicolon = _validate(frame, ";", _params(";"), tmp_path / "semicolon")
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(semicolon), pd.read_parquet(comma))
    monkeypatch.chdir(tmp_path)  # the split and model paths of params.yaml are relative
    trains_and_scores(_params(";"), semicolon)


def test_a_comma_file_under_a_semicolon_setting_names_the_setting_to_change(tmp_path: Path) -> None:
    code, _ = _validate(generate(200, 12), ",", _params(";"), tmp_path / "t")
    assert code == 1
    (problem,) = read_json(tmp_path / "t" / "report.json")["problems"]
    assert "values separated by ';' (the header is one column holding ','" in problem["check"]
    assert "set data.csv_separator: ',' in params.yaml" in problem["check"]


def test_a_tab_separated_table_reads_with_a_tab_setting(tmp_path: Path) -> None:
    frame = generate(200, 13)
    code, tabbed = _validate(frame, "\t", _params("\t"), tmp_path / "tab")
    assert code == 0
    code, comma = _validate(frame, ",", _params(","), tmp_path / "comma")
    pd.testing.assert_frame_equal(pd.read_parquet(tabbed), pd.read_parquet(comma))


@pytest.mark.parametrize("sep", ["a", "7", '"', "'", "\n", ";;", ".", " "])
def test_a_separator_that_cannot_split_a_csv_is_a_params_error(sep: str, tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["csv_separator"] = sep
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as refused:
        load_params(path)
    assert "data.csv_separator" in str(refused.value)
    assert "is not a CSV separator: use one character such as ',' or ';'" in str(refused.value)


def test_the_monitor_reads_a_semicolon_batch_like_its_comma_copy(
    reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """';' fields, and a European export's ';' fields with decimal commas (data.decimal ','):
    the same report as the ',' copy."""
    monkeypatch.chdir(reference_project)  # params paths are relative to the repository root
    batch = drifted(121)
    reports = {}
    for name, sep, decimal in (("comma", ",", "."), ("semicolon", ";", "."), ("european", ";", ",")):
        source = tmp_path / f"{name}.csv"
        batch.to_csv(source, sep=sep, decimal=decimal, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        out = tmp_path / f"{name}.json"
        params = _params(sep, decimal)
        code = run.main(
            params, source=str(source), json_path=out, markdown_path=tmp_path / f"{name}.md",
            model_dir=params.train.model_dir,
        )  # fmt: skip
        assert code == run.RETRAIN
        reports[name] = read_json(out)
    for name in ("semicolon", "european"):
        assert reports[name]["rows"] == len(batch)
        assert reports[name]["features"] == reports["comma"]["features"]
        assert reports[name]["labeled_rows"] == reports["comma"]["labeled_rows"] > 0
