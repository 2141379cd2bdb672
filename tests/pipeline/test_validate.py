"""The bad-data corpus: every case fails validate and says why; `dvc repro` stops there.

Every case runs the real `mlapp pipeline validate` command (in-process: the message, the exit
code and the failed report). That a failing validate stops `dvc repro` before train and keeps
the model byte-identical does not depend on the case: three cases of different kinds (a bad
value, a params change that also makes train stale, an unreadable file) prove it through DVC.
"""

import bz2
import gzip
import json
import lzma
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from click.testing import CliRunner

from mlapp import schema
from mlapp.cli import cli
from mlapp.errors import UserError
from mlapp.params import load_params
from mlapp.raw_table import line_count
from mlapp.schema import feature_schema, raw_schema
from mlapp.stages import label_checks, validate
from mlapp.stages.validate import Problem, check_table, parse_table
from mlapp.stages.validate_rules import parse_columns
from tests.conftest import REPO, copy_project, sh

Edit = Callable[[pd.DataFrame], pd.DataFrame]


def _set(column: str, row: int, value: object) -> Edit:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return edit


CASES: dict[str, tuple[Edit | str, list[str]]] = {
    "missing column": (
        lambda f: f.drop(columns=["tenure_months"]),
        ["required column", "tenure_months", "if the data no longer has it, remove it there"],
    ),
    "extra column": (
        lambda f: f.assign(favourite_colour="blue"),
        ["favourite_colour", "data.ignore_columns", "`uv run mlapp template schema` drafts"],
    ),
    "wrong dtype": (_set("age", 7, "forty"), ["'age'", "parse as int64", "forty", "[7]"]),
    # A column with a value that does not parse still names its out-of-range rows (they were
    # hidden until the first was fixed: two rounds for one file).
    "bad value and out of range": (
        lambda f: _set("age", 9, 200)(_set("age", 7, "forty")(f)),
        [
            "parse as int64: 1 value(s), e.g. ['forty'] at rows [7]",
            "'age' failed in_range(18, 110): 1 value(s), e.g. [200] at rows [9]",  # not 200.0: a whole number
        ],
    ),
    "fractional int": (_set("num_products", 3, 2.5), ["'num_products'", "parse as int64", "2.5"]),
    "out of range": (_set("age", 4, 150), ["'age'", "in_range(18, 110)", "150"]),
    "null not allowed": (_set("contract", 2, None), ["'contract'", "no missing values", "[2]"]),
    "null boolean": (_set("paperless_billing", 6, None), ["'paperless_billing'", "no missing values", "[6]"]),
    "duplicate ids": (_set("customer_id", 5, "C0000000"), ["'customer_id'", "unique"]),
    "non-binary label": (
        _set("churned", 1, 2),
        ["'churned'", "both classes present for task binary", "found 3"],
    ),
    "all-null feature": (lambda f: f.assign(tenure_months=None), ["'tenure_months'", "not entirely empty"]),
    "single-class label": (lambda f: f.assign(churned="0"), ["'churned'", "both classes", "found 1"]),
    "constant regression label": (
        lambda f: f.assign(churned="3.5"),
        ["'churned'", "not constant (every label is 3.5)"],
    ),
    "count turned into levels": (
        lambda f: f.assign(support_tickets_90d=f["support_tickets_90d"].map({"0": "none"}).fillna("some")),
        ["'support_tickets_90d'", "parse as int64 (no value", "_category([...])", "mlapp template schema"],
    ),
    "unknown category": (_set("region", 3, "mars"), ["'region'", "isin", "mars"]),
    "bad boolean": (_set("paperless_billing", 0, "maybe"), ["'paperless_billing'", "parse as bool", "maybe"]),
    "bad timestamp": (_set("event_time", 0, "yesterday"), ["'event_time'", "parse as datetime", "yesterday"]),
    "empty file": ("", ["readable table (it is empty (no header line naming its columns))"]),
    # A database's "no date": pandas reads it, datetime64[ns] cannot hold it (pandera's cast named no row).
    "no-date placeholder": (
        _set("event_time", 3, "9999-12-31T00:00:00"),
        [
            "'event_time'",
            "after 2261",
            "9999-12-31? give the row its time",
            "['9999-12-31T00:00:00'] at rows [3]",
        ],
    ),
    "mixed time zones": (
        _set("event_time", 3, "2024-01-01T05:00:00+02:00"),
        [
            "'event_time'",
            "a UTC offset on every value or none: these have a UTC offset, the column's other values none; "
            "write every value with its offset, Z for UTC (2024-01-03T10:00:00Z), or none, in the export",
            "[3]",
        ],
    ),
    # pandas would rename the second 'region' to 'region.1', a column the file does not have.
    "duplicate column name": (
        lambda f: f.assign(region_copy=f["region"]).rename(columns={"region_copy": "region"}),
        ["the table failed", "unique column names", "['region']"],
    ),
    "semicolon-separated": (
        "SEMICOLON",
        ["the file failed", "holding ';'", "set data.csv_separator: ';' in params.yaml"],
    ),
    "not UTF-8": (
        "LATIN1",
        [
            "the file failed readable table (line 4 is not UTF-8 text (",
            'read as Windows-1252): save the file as UTF-8 (Excel: "CSV UTF-8", not "CSV (Comma delimited)")',
        ],
    ),
    "header only": ("HEADER", ["the table failed at least 100 rows (found 0; validate.min_rows: add rows"]),
}


def break_project(root: Path, case: str) -> None:
    """The case's bad table in place of the project's raw data (and its params edit, if any)."""
    raw = root / "data" / "churn.csv"
    edit, _expected = CASES[case]
    if edit == "LATIN1":  # a spreadsheet's export: a non-ASCII value on the third data row
        lines = raw.read_text().splitlines(keepends=True)
        lines[3] = "Ö" + lines[3]  # the customer id of file line 4
        raw.write_bytes("".join(lines).encode("latin-1"))
    elif edit == "SEMICOLON":  # a spreadsheet's export in a locale with decimal commas
        pd.read_csv(raw, dtype=str).to_csv(raw, sep=";", index=False)
    elif isinstance(edit, str):
        raw.write_text(raw.read_text().splitlines()[0] + "\n" if edit == "HEADER" else edit)
    else:
        edit(pd.read_csv(raw, dtype=str)).to_csv(raw, index=False)
    if case == "constant regression label":  # the project switches task in the same change
        params = root / "params.yaml"
        text = params.read_text().replace("task: binary", "task: regression")
        text = text.replace("primary_metric: roc_auc", "primary_metric: rmse")
        text = text.replace("  metric: roc_auc", "  metric: rmse")  # tune.metric
        params.write_text(text.replace("    roc_auc: 0.05\n    pr_auc: 0.05\n", "    rmse: 0.1\n"))


def assert_failure_explained(case: str, stderr: str, root: Path) -> None:
    assert "validation FAILED" in stderr
    for fragment in CASES[case][1]:
        assert fragment in stderr, f"{fragment!r} not in:\n{stderr}"
    assert '"status": "failed"' in (root / "reports" / "validation.json").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_data_fails_validate_and_says_why(
    case: str, reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(reference_project / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data").mkdir()
    shutil.copy(reference_project / "data" / "churn.csv", tmp_path / "data" / "churn.csv")
    break_project(tmp_path, case)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["pipeline", "validate"])

    assert result.exit_code == 1, result.output
    assert_failure_explained(case, result.stderr, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["wrong dtype", "constant regression label", "empty file"])
def test_bad_data_stops_the_pipeline_and_keeps_the_model(
    case: str, trained_project: Path, tmp_path: Path
) -> None:
    root = copy_project(trained_project, tmp_path / "p")
    before = {
        p.name: p.read_bytes() for p in [*(root / "models").iterdir(), root / "metrics" / "metrics.json"]
    }
    break_project(root, case)

    result = sh("dvc", "repro", cwd=root, check=False)

    assert result.returncode != 0
    assert_failure_explained(case, result.stderr, root)
    assert "Running stage 'train'" not in result.stdout
    after = {
        p.name: p.read_bytes() for p in [*(root / "models").iterdir(), root / "metrics" / "metrics.json"]
    }
    assert after == before


@pytest.mark.slow
def test_a_failed_evaluate_keeps_the_committed_metrics_and_plots(
    trained_project: Path, tmp_path: Path
) -> None:
    """evaluate moves its files into place only after the MLflow run is logged; DVC must not
    delete them before it runs either (they are committed to git, not kept in the DVC cache)."""
    root = copy_project(trained_project, tmp_path / "p")
    kept = [root / "metrics" / "metrics.json", *sorted((root / "metrics" / "plots").glob("*.json"))]
    before = {p: p.read_bytes() for p in kept}

    unreachable = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # nothing listens on port 9
    result = sh(
        "dvc", "repro", "--force", "--single-item", "evaluate", cwd=root, check=False, env=unreachable
    )

    assert result.returncode != 0 and "is not reachable" in result.stderr
    assert {p: p.read_bytes() for p in kept if p.exists()} == before


def test_parse_reports_every_bad_value_with_rows() -> None:
    frame = pd.DataFrame({"age": ["31", "x", None, "4.5"], "monthly_charges": ["1.5", "inf", "2", "3"]})
    _, problems = parse_table(frame, feature_schema(), limit=5, decimal=".")
    by_column = {p.column: p for p in problems}
    assert by_column["age"] == Problem("age", "parse as int64", 2, ["x", "4.5"], [1, 3])
    assert by_column["monthly_charges"].values == ["inf"]


def test_a_column_with_a_missing_or_bad_value_still_names_its_other_rules() -> None:
    """As the monitor checks a batch: a missing contract hid the row whose contract is no level,
    a bad number hid the one out of range; the type and null checks the bad values fail again
    stay out."""
    table = pa.DataFrameSchema(
        {"age": schema._number(int, 18, 110), "contract": schema._category(["monthly", "yearly"])},
        coerce=True,
    )
    frame = pd.DataFrame({"age": ["31", "forty", "200"], "contract": ["monthly", None, "weekly"]})
    _, problems = check_table(frame, table, 5, 1, "validate.min_rows", ".")
    assert [p.line() for p in problems] == [
        "column 'age' failed parse as int64: 1 value(s), e.g. ['forty'] at rows [1]",
        "column 'contract' failed no missing values: 1 value(s), e.g. [None] at rows [1]",
        "column 'age' failed in_range(18, 110): 1 value(s), e.g. [200] at rows [2]",  # as written, not 200.0
        "column 'contract' failed isin(['monthly', 'yearly']): 1 value(s), e.g. ['weekly'] at rows [2]",
    ]


def test_only_a_column_of_text_throughout_is_called_a_type_change() -> None:
    """The levels hint ("declare it _category") is for a column whose every value is text; one
    stray word, or a chunk that holds one row, is a bad value, and the label is no feature."""
    table = raw_schema(load_params(REPO / "params.yaml").data, "regression")

    def check(column: str, values: list[str | None]) -> str:
        _, problems = parse_table(pd.DataFrame({column: values}), table, limit=5, decimal=".")
        return problems[0].check

    assert check("age", ["few", "many", None]).startswith("parse as int64 (no value of this column is one")
    assert check("age", ["31", "many"]) == "parse as int64"
    assert check("age", ["many"]) == "parse as int64"
    assert check("churned", ["few", "many"]) == "parse as float64"


def test_a_category_with_many_levels_is_named_briefly() -> None:
    """A failed isin of 300 levels reads as its first levels and a count, not 300 of them per line."""
    schema = pa.DataFrameSchema({"city": pa.Column(str, pa.Check.isin([f"c{i}" for i in range(300)]))})
    _, problems = check_table(
        pd.DataFrame({"city": ["c1", "atlantis"]}), schema, 5, 1, "validate.min_rows", "."
    )
    assert [p.line() for p in problems] == [
        "column 'city' failed isin(['c0', 'c1', 'c2', 'c3', 'c4', … 295 more]): "
        "1 value(s), e.g. ['atlantis'] at rows [1]"
    ]


def test_a_placeholder_for_missing_categories_says_where_to_declare_it() -> None:
    """UCI's adult table writes "?" for a missing workclass: every "?" failed the category's levels
    (listed once: examples are distinct), and nothing said data.missing_values reads them as missing."""
    schema = pa.DataFrameSchema({"workclass": pa.Column(str, pa.Check.isin(["Private", "State-gov"]))})
    _, problems = check_table(pd.DataFrame({"workclass": ["Private", "?", "?"]}), schema, 5, 1, "x", ".")
    assert [p.line() for p in problems] == [
        "column 'workclass' failed isin(['Private', 'State-gov']) ('?' names no value: if it marks a "
        "missing one, add it to data.missing_values (params.yaml) and make the column nullable in "
        "FEATURES): 2 value(s), e.g. ['?'] at rows [1, 2]"
    ]
    _, unknown = check_table(pd.DataFrame({"workclass": ["Private", "Unknown"]}), schema, 5, 1, "x", ".")
    assert "names no value" not in unknown[0].line()  # a word may be a level the schema lacks


def test_a_symbol_is_no_placeholder_where_the_levels_are_symbols() -> None:
    """A mood column of emoji levels: a new emoji in the data is a level the schema lacks, not a
    missing value ("'🙂' names no value: add it to data.missing_values" was the wrong fix)."""
    schema = pa.DataFrameSchema({"mood 😀": pa.Column(str, pa.Check.isin(["😀", "😐", "😡"]))})
    _, problems = check_table(pd.DataFrame({"mood 😀": ["😀", "🙂"]}), schema, 5, 1, "x", ".")
    assert [p.line() for p in problems] == [
        "column 'mood 😀' failed isin(['😀', '😐', '😡']): 1 value(s), e.g. ['🙂'] at rows [1]"
    ]


@pytest.mark.parametrize("setting", ["label", "id_column", "time_column"])
def test_the_label_id_or_time_listed_as_a_feature_is_refused(setting: str) -> None:
    """A label among FEATURES would be learnt from itself (perfect test metrics, a service that
    wants the answer as input); an id or time column is never a feature either."""
    data = load_params(REPO / "params.yaml").data.model_copy(update={setting: "age"})
    with pytest.raises(UserError, match=rf"'age' is data\.{setting} in params\.yaml and a feature"):
        raw_schema(data)


@pytest.mark.parametrize(
    ("column", "said"),
    [
        (pa.Column(str, nullable=True), "'note' is text without Check.isin([...])"),
        (pa.Column("datetime64[ns]"), "'note' has type datetime64[ns]"),
        # Free text (a comment) or a date the model should not use: the way out is named too.
        (pa.Column(str), "or list 'note' in data.ignore_columns (params.yaml)"),
        (pa.Column("datetime64[ns]"), "e.g. its age in days) or list 'note' in data.ignore_columns"),
        # A class number coded as a category: every value was missing to the model (gain 0), silently.
        (
            pa.Column(int, pa.Check.isin([1, 2, 3])),
            "'note' is int64 with Check.isin (src/mlapp/schema.py): "
            "category levels are text, as the file holds them; declare it _category([1, 2, 3])",
        ),
    ],
)
def test_a_feature_the_model_cannot_take_is_refused(column: pa.Column, said: str, monkeypatch) -> None:
    """XGBoost takes numbers, booleans and categories: free text or a timestamp among FEATURES
    passed validate and crashed train with a traceback."""
    monkeypatch.setitem(schema.FEATURES, "note", column)
    with pytest.raises(UserError, match=re.escape(said)):
        raw_schema(load_params(REPO / "params.yaml").data)


@pytest.mark.parametrize("name", ["size [cm]", "income<50k", "score]"])
def test_a_feature_name_xgboost_refuses_is_named_at_validate(name: str, monkeypatch) -> None:
    """XGBoost refuses feature names with '[', ']' or '<' ("size [cm]"): validate passed, split
    ran, and train died with XGBoost's traceback. Validate names the column and the fix."""
    monkeypatch.setitem(schema.FEATURES, name, pa.Column(float))
    said = f"feature {name!r}: XGBoost refuses '[', ']' and '<' in a feature name: rename the column"
    with pytest.raises(UserError, match=re.escape(said)):
        raw_schema(load_params(REPO / "params.yaml").data)


def test_a_column_in_data_ignore_columns_is_read_past(reference_project: Path, tmp_path: Path) -> None:
    """Free text the model does not use (a name with commas and quotes, some blank): listed in
    data.ignore_columns it is neither checked nor kept. There was no way to leave a column out
    but editing the data file."""
    params = load_params(reference_project / "params.yaml")
    frame = pd.read_csv(reference_project / "data" / "churn.csv", dtype=str, nrows=300)
    frame.insert(1, "name", ['Smith, Mr. "Jack"', None, "O'Neil, Mrs."] * 100)
    source, output, report = tmp_path / "table.csv", tmp_path / "out.parquet", tmp_path / "report.json"
    frame.to_csv(source, index=False)
    assert validate.run(params, source=source, output=output, report=report) == 1
    ignoring = params.model_copy(update={"data": params.data.model_copy(update={"ignore_columns": ["name"]})})
    assert validate.run(ignoring, source=source, output=output, report=report) == 0
    assert list(pd.read_parquet(output).columns) == [c for c in frame.columns if c != "name"]


@pytest.mark.parametrize("used", ["age", "churned", "customer_id"])
def test_data_ignore_columns_cannot_name_a_used_column(used: str) -> None:
    data = load_params(REPO / "params.yaml").data.model_copy(update={"ignore_columns": [used]})
    with pytest.raises(
        UserError, match=re.escape(f"['{used}'] in data.ignore_columns (params.yaml) are used")
    ):
        raw_schema(data)


def test_a_whole_number_feature_may_have_missing_values() -> None:
    """`_number(int, ..., nullable=True)`: blanks are missing values, the rest whole numbers in
    range. Before, int64 could not hold a blank: every one failed as coerce_dtype('int64')."""
    table = pa.DataFrameSchema({"visits": schema._number(int, 0, 10, nullable=True)}, coerce=True)
    frame = pd.DataFrame({"visits": ["3", None, "0"]})
    typed, problems = check_table(frame, table, 5, 1, "validate.min_rows", ".")
    assert problems == [] and typed["visits"].tolist() == [3, pd.NA, 0]
    for values, said in [
        (["2.5", None], "column 'visits' failed parse as Int64: 1 value(s), e.g. ['2.5'] at rows [0]"),
        ([None, "12"], "column 'visits' failed in_range(0, 10): 1 value(s), e.g. [12] at rows [1]"),
    ]:
        _, problems = check_table(pd.DataFrame({"visits": values}), table, 5, 1, "validate.min_rows", ".")
        assert [p.line() for p in problems] == [said]


def test_category_levels_written_as_numbers_are_the_file_s_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """_category([1, 2, 3]) (a class number as a category): every "1" failed isin([1, 2, 3]),
    and the service refused to start. Its levels are text; a raw pa.Column so declared is refused."""
    table = pa.DataFrameSchema({"pclass": schema._category([1, 2, 3])}, coerce=True)
    typed, problems = check_table(pd.DataFrame({"pclass": ["1", "3"]}), table, 5, 1, "validate.min_rows", ".")
    assert problems == [] and typed["pclass"].tolist() == ["1", "3"]
    monkeypatch.setitem(schema.FEATURES, "pclass", pa.Column(str, pa.Check.isin([1, 2, 3])))
    with pytest.raises(UserError, match=re.escape("'pclass' is text with levels that are not text")):
        raw_schema(load_params(REPO / "params.yaml").data)


def test_a_boolean_feature_may_have_missing_values() -> None:
    """pa.Column("boolean", nullable=True): True/False in any spelling, blanks missing (the
    "boolean" type was not parsed: every True failed as coerce_dtype('boolean'))."""
    table = pa.DataFrameSchema({"vip": pa.Column("boolean", nullable=True)}, coerce=True)
    frame = pd.DataFrame({"vip": ["True", None, "false", "maybe"]})
    typed, problems = check_table(frame.head(3), table, 5, 1, "validate.min_rows", ".")
    assert problems == [] and typed["vip"].tolist() == [True, pd.NA, False]
    _, problems = check_table(frame, table, 5, 1, "validate.min_rows", ".")
    assert [p.line() for p in problems] == [
        "column 'vip' failed parse as boolean: 1 value(s), e.g. ['maybe'] at rows [3]"
    ]


@pytest.mark.parametrize(("dtype", "fix"), [(int, "_number(int, low, high"), (bool, 'pa.Column("boolean"')])
def test_a_nullable_int64_or_bool_feature_is_refused_with_the_fix(
    dtype: type, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(schema.FEATURES, "visits", pa.Column(dtype, nullable=True))
    with pytest.raises(UserError, match=rf"'visits' is {dtype.__name__}(64)? and nullable.*{re.escape(fix)}"):
        raw_schema(load_params(REPO / "params.yaml").data)


def test_timestamps_with_different_utc_offsets_are_read_as_utc() -> None:
    """Local time across a daylight-saving change (+01:00, then +02:00): one instant each, in UTC."""
    data = load_params(REPO / "params.yaml").data
    frame = pd.DataFrame({"event_time": ["2024-03-30T10:00:00+01:00", "2024-04-01T10:00:00+02:00"]})
    parsed, problems = parse_table(frame, raw_schema(data), limit=5, decimal=".")
    assert problems == []
    assert parsed["event_time"].tolist() == [
        pd.Timestamp("2024-03-30 09:00"),
        pd.Timestamp("2024-04-01 08:00"),
    ]


@pytest.mark.parametrize(
    ("times", "failing"),
    [
        # A date has no time and so no UTC offset: "-03" is its day, not an offset of -3 hours.
        (["2024-01-01", "2024-01-02", "2024-01-03", "2024-02-01T10:00:00+02:00"], [3]),
        (["2024-01-01T10:00:00", "2024-01-02T11:00", "2024-01-03 12:00:00.5", "2024-02-01"], []),
        (["2024-01-01T10:00Z", "2024-01-02 11:00:00-05", "2024-01-03T12:00:00.5+0100", "2024-02-01"], [3]),
    ],
)
def test_a_date_without_a_time_counts_as_without_a_utc_offset(times: list[str], failing: list[int]) -> None:
    """Some values with a UTC offset and some without fail (the fewer); a plain date is one
    without, though its day ("-03") once read as an offset."""
    data = load_params(REPO / "params.yaml").data
    _parsed, problems = parse_table(
        pd.DataFrame({"event_time": times}), raw_schema(data), limit=5, decimal="."
    )
    assert [row for p in problems for row in p.rows] == failing, problems


def test_years_written_as_decimals_are_named_so_not_as_counts_of_seconds() -> None:
    """statsmodels' Grunfeld table, written by pandas, has its year column as 1935.0: named as
    seconds since 1970, the fix a user needed (write 1935, which reads as a time) went unsaid."""
    data = load_params(REPO / "params.yaml").data
    times = pd.DataFrame({"event_time": ["1935.0", "1936.00", "1937", "1710892800"]})
    _parsed, problems = parse_table(times, raw_schema(data), limit=5, decimal=".")
    (problem,) = problems
    assert problem.rows == [0, 1, 3] and "years written as decimals" in problem.check, problem


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_a_compressed_csv_is_read_by_its_name(reference_project: Path, tmp_path: Path, suffix: str) -> None:
    """data.raw may be compressed (``.gz``, ``.bz2``, ``.xz``, told by the name, as the batch
    scorer and the monitor read their files): its header and text checks read the decompressed
    table, not the compressed bytes, and a failing row is still numbered by its line."""
    pack = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix]
    params = load_params(reference_project / "params.yaml")
    lines = (reference_project / "data" / "churn.csv").read_text().splitlines(keepends=True)[:301]
    source = tmp_path / f"churn.csv{suffix}"
    source.write_bytes(pack("".join(lines).encode()))
    report = tmp_path / "report.json"
    assert validate.run(params, source=source, output=tmp_path / "out.parquet", report=report) == 0
    source.write_bytes(pack("".join([lines[0].rstrip() + ",region\n", *lines[1:]]).encode()))
    assert validate.run(params, source=source, output=tmp_path / "out.parquet", report=report) == 1
    assert json.loads(report.read_text())["problems"][0]["values"] == ["region"]
    assert line_count(source) == 301


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        (["1,250", "3"], "(thousands separators: export numbers without them)"),
        (
            ["2.5", "3,5"],
            "(decimal commas: set data.decimal: ',' in params.yaml, or export numbers with a decimal point)",
        ),
        (["charges", "3"], "(a row repeats the header 'charges': files joined with their headers?)"),
        (["x", "3"], ""),
        (["#DIV/0!", "3"], "(a spreadsheet's error value: fix the formula, or export it as empty)"),
        (
            ["3", "?"],
            "('?' names no value: if it marks a missing one, add it to data.missing_values "
            "(params.yaml) and make the column nullable in FEATURES)",
        ),
        (
            [" - ", "3"],
            "('-' names no value: if it marks a missing one, add it to data.missing_values "
            "(params.yaml) and make the column nullable in FEATURES)",
        ),
    ],
)
def test_an_unparsable_number_says_which_export_habit_explains_it(values: list[str], hint: str) -> None:
    """Thousands separators, decimal commas and a repeated header each failed as a bare
    `parse as float64`, leaving the user to guess what to change in the export."""
    table = pa.DataFrameSchema({"charges": schema._number(float, 0, 10_000)}, coerce=True)
    _, problems = check_table(pd.DataFrame({"charges": values}), table, 5, 1, "validate.min_rows", ".")
    assert [p.check for p in problems] == [f"parse as float64 {hint}".rstrip()]


@pytest.mark.parametrize(
    ("kind", "value", "said"),
    [
        (float, "1e300", "parse as float64 (beyond 3.4e+38, the largest number the model takes"),
        (int, "10000000000000000000", "parse as Int64 (past int64, 9.2e18: a code or an identifier"),
    ],
)
def test_a_number_too_large_for_the_model_is_named(kind: type, value: str, said: str) -> None:
    """1e300 passed validate and stopped train with XGBoost's "Input data contains `inf`" (it reads
    float32); a 20-digit account number was wrapped to -9223372036854775808 and shown so."""
    table = pa.DataFrameSchema({"x": schema._number(kind, -1e301, 1e301, nullable=True)}, coerce=True)
    _, problems = check_table(pd.DataFrame({"x": ["3", value]}), table, 5, 1, "validate.min_rows", ".")
    assert [(p.check.startswith(said), p.values, p.rows) for p in problems] == [(True, [value], [1])]


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("gold", " (a text label is a class)"),  # nothing in the export explains it: the column's own hint
        ("1,234", " (thousands separators: export numbers without them)"),  # the export habit, only
    ],
)
def test_a_column_s_own_hint_is_for_values_no_export_habit_explains(value: str, hint: str) -> None:
    """validate's hint for a regression label of text was added by looking for '(' in the
    finished message; parse_columns now takes it per column, for unexplained values only."""
    table = pa.DataFrameSchema({"price": pa.Column(float)}, coerce=True)
    frame = pd.DataFrame({"price": ["3.5", value]})
    _, unparsed, _ = parse_columns(frame, table, 5, ".", unexplained={"price": " (a text label is a class)"})
    assert unparsed["price"].check == f"parse as float64{hint}"


def test_a_parquet_file_with_missing_values_written_as_text_says_how_to_write_them(
    reference_project: Path, tmp_path: Path
) -> None:
    """pandas before 3.0 writes NaN as the text "nan" on ``astype(str)``, so such a Parquet file's
    blank total_charges each failed `parse as float64` with e.g. ['nan', 'nan'], though "nan" is
    in data.missing_values (which reads CSV cells; Parquet holds a missing value as null)."""
    params = load_params(reference_project / "params.yaml")
    frame = pd.read_csv(reference_project / "data" / "churn.csv", nrows=300)
    assert frame["total_charges"].isna().any()
    frame["total_charges"] = [("nan" if pd.isna(v) else str(v)) for v in frame["total_charges"]]
    source = tmp_path / "churn.parquet"
    frame.to_parquet(source, index=False)
    report = tmp_path / "report.json"
    assert validate.run(params, source=source, output=tmp_path / "out.parquet", report=report) == 1
    [problem] = json.loads(report.read_text())["problems"]
    assert problem["column"] == "total_charges"
    assert problem["check"] == (
        "parse as float64 ('nan' is in data.missing_values, which reads CSV cells: in Parquet a "
        "missing value is null; write nulls, e.g. without astype(str))"
    )


@pytest.mark.parametrize("name", ["churn.pq", "churn.PARQUET"])
def test_data_raw_named_as_the_scorer_and_monitor_name_parquet_is_read_as_parquet(
    reference_project: Path, tmp_path: Path, name: str
) -> None:
    """A ``.pq`` data.raw was read as CSV (and failed as not UTF-8) where the batch scorer read
    it as Parquet: one rule for every reader (mlapp.sources.TABLE_FORMATS)."""
    params = load_params(reference_project / "params.yaml")
    frame = pd.read_csv(reference_project / "data" / "churn.csv", dtype=str, nrows=300)
    source = tmp_path / name
    frame.to_parquet(source, index=False)
    report = tmp_path / "report.json"
    assert validate.run(params, source=source, output=tmp_path / "out.parquet", report=report) == 0
    assert json.loads(report.read_text())["rows"] == 300


def test_a_header_that_only_looks_like_the_schema_s_name_says_how_it_differs(
    reference_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'Tenure_Months' and 'monthly_charges ' were one "missing" and one "unexpected" list that
    look alike on screen; now each pair is named with what differs."""
    params = load_params(reference_project / "params.yaml")
    frame = pd.read_csv(reference_project / "data" / "churn.csv", dtype=str, nrows=300)
    frame = frame.rename(columns={"tenure_months": "Tenure_Months", "monthly_charges": "monthly_charges "})
    source = tmp_path / "table.csv"
    frame.to_csv(source, index=False)
    assert validate.run(params, source=source, output=tmp_path / "o.parquet", report=tmp_path / "r.json") == 1
    err = capsys.readouterr().err
    assert "the file has 'Tenure_Months' for 'tenure_months' (case differs)" in err, err
    assert "the file has 'monthly_charges ' for 'monthly_charges' (spaces around it)" in err, err
    assert err.index("the file has 'Tenure_Months'") < err.index("is a feature in FEATURES"), err


@pytest.mark.parametrize("repeats", [True, False], ids=["first-row-repeats-a-value", "distinct"])
def test_a_file_without_a_header_line_is_named_so(
    repeats: bool, reference_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """UCI's files (adult.data, iris.data) have no header line. Its first row read as one named a
    value twice ("the header names ['0'] more than once"), or every column was "missing" and every
    value an unknown column, an 'NA' among them told it was a Parquet file's: never the cause."""
    params = load_params(reference_project / "params.yaml")
    frame = pd.read_csv(reference_project / "data" / "churn.csv", dtype=str, nrows=300)
    frame.loc[0, "payment_method"] = "NA"  # in data.missing_values
    if not repeats:  # the columns whose first values differ: pandas renames no name
        frame = frame.loc[:, ~frame.iloc[0].duplicated()]
    source = tmp_path / "table.csv"
    frame.to_csv(source, index=False, header=False)
    assert validate.run(params, source=source, output=tmp_path / "o.parquet", report=tmp_path / "r.json") == 1
    err = capsys.readouterr().err
    numbers = [v for v in frame.iloc[0] if re.fullmatch(r"[\d.]+", v)][:3]
    shown = ", ".join(map(repr, numbers))
    said = f"(the header holds numbers, {shown}: if the file's first line is a data row"
    assert said in err, err
    if not repeats:  # said before each missing column's role, not at the end of a long line
        assert err.index(said) < err.index("is a feature in FEATURES"), err
    assert ("repeats them" in err) is repeats
    assert "Parquet" not in err


def test_one_number_in_a_header_is_a_name_not_a_data_row() -> None:
    from mlapp.csv_names import look_alikes

    assert look_alikes(["age"], ["2023", "extra"]) == ""
    assert "the header holds numbers, '1', '2.5'" in look_alikes(["age"], ["1", "x", "2.5"])
    assert look_alikes([], ["1", "2"]) == ""  # nothing missing: extra columns only


def test_a_header_in_another_unicode_form_is_named() -> None:
    """A macOS export writes 'é' as 'e' and a combining accent (NFD): the same on screen."""
    from unicodedata import normalize

    from mlapp.csv_names import look_alikes

    said = look_alikes([normalize("NFC", "café_visits"), "age"], [normalize("NFD", "café_visits"), "extra"])
    assert "(another Unicode form: save the header as NFC)" in said, said
    assert "'age'" not in said
    assert look_alikes(["age"], ["extra"]) == ""


def test_a_header_spelling_a_feature_close_is_named_as_its_likely_misspelling() -> None:
    """'agee' beside a missing 'age' was two unrelated lines (a column missing, one unexpected):
    the pair is named, each of the file's names for one feature only, a distant name for none."""
    from mlapp.csv_names import look_alikes

    said = look_alikes(["age", "region"], ["agee", "event_time"])
    assert "the file has 'agee' for 'age' (a likely misspelling)" in said, said
    assert "region" not in said and "event_time" not in said
    both = look_alikes(["tenure_months", "age"], ["tenure_months ", "agee"])
    assert "(spaces around it); the file has 'agee' for 'age' (a likely misspelling)" in both, both
    assert look_alikes(["age", "aged"], ["agee"]).count("'agee'") == 1


def test_a_misspelling_in_another_case_is_named_too() -> None:
    """'Agee' (a spreadsheet's capitalised header, one letter doubled) for 'age': difflib's ratio
    of the names as written is 0.57, as far as 'region' is; compared as alike compares names
    (case, spaces, Unicode form aside), it is 'agee' for 'age'."""
    from mlapp.csv_names import look_alikes

    said = look_alikes(["age", "monthly_charges"], ["Agee", "Monthly_Charge"])
    assert "the file has 'Agee' for 'age' (a likely misspelling)" in said, said
    assert "the file has 'Monthly_Charge' for 'monthly_charges' (a likely misspelling)" in said, said
    assert look_alikes(["age"], ["AGE_GROUP"]) == ""


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_classes_spelt_in_two_cases_are_named_as_one_class_spelt_twice(task: str) -> None:
    """An export with "Yes" on some rows and "yes" on others has two classes where the team
    means one: the binary check counted 4 classes and suggested multiclass; the rare spelling
    failed min_class_rows without a word on why."""
    params = load_params(REPO / "params.yaml").model_copy(update={"task": task})
    labels = pd.Series(["yes"] * 60 + ["Yes"] * 3 + ["no"] * 40 + [" No"] * 30 + ["maybe"] * 30)
    (problem,) = label_checks.label_problems(labels.str.strip(), params)
    assert "'No' and 'no' differ only in case" in problem.check
    assert "'Yes' and 'yes' differ only in case" in problem.check


def test_labels_of_uci_adult_s_test_part_are_named_as_one_class_spelt_twice() -> None:
    """UCI's adult table ends its test part's labels with '.' (' >50K.'), its training part not:
    the two parts appended were 4 classes, and validate's fix was "set task: multiclass"."""
    params = load_params(REPO / "params.yaml")
    train, test = ["<=50K"] * 60 + [">50K"] * 30, ["<=50K."] * 20 + [">50K."] * 10
    labels = pd.Series(train + test + ["Yes."] + ["yes"] * 2)

    (problem,) = label_checks.label_problems(labels, params)

    assert "'<=50K' and '<=50K.' differ only in a trailing '.'" in problem.check, problem.check
    assert "'>50K' and '>50K.' differ only in a trailing '.'" in problem.check
    assert "'Yes.' and 'yes' differ only in case and a trailing '.'" in problem.check
    assert "task: multiclass" not in problem.check
    # The rows to respell: the less common spelling of each class, by row.
    assert (problem.count, problem.rows) == (31, [90, 91, 92, 93, 94])
    assert problem.values == ["<=50K.", ">50K.", "Yes."]


def test_classes_declared_in_both_cases_are_distinct_classes() -> None:
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"classes": ["A", "a", "b"]})
    params = params.model_copy(update={"task": "multiclass", "data": data})
    assert label_checks.label_problems(pd.Series(["A"] * 20 + ["a"] * 20 + ["b"] * 20), params) == []


@pytest.mark.parametrize("name", ["row", "probability", "label", "model_version"])
def test_an_id_named_like_a_column_the_scorer_writes_is_refused(
    name: str, reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such an id trained a model that `mlapp serving score` then refused for every file: said
    before training, with the column, the reason and the fix."""
    params = (reference_project / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(params.replace("id_column: customer_id", f"id_column: {name}"))
    (tmp_path / "data").mkdir()
    frame = pd.read_csv(reference_project / "data" / "churn.csv", dtype=str)
    frame.rename(columns={"customer_id": name}).to_csv(tmp_path / "data" / "churn.csv", index=False)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(cli, ["pipeline", "validate"])

    assert result.exit_code == 1, result.output
    said = f"column '{name}' failed not a name the scorer writes (the batch scorer writes a column"
    assert said in result.stderr
    assert "rename the column in the export and data.id_column (params.yaml)" in result.stderr
