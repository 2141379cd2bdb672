"""A team's own Parquet file, its column types kept: what a typed column means to validate and
the schema draft when CSV text would have said it differently."""

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp import schema_draft
from mlapp.files import read_json
from mlapp.monitor import batch
from mlapp.monitor.batch import InvalidBatch
from mlapp.params import load_params
from mlapp.problem_row import Problem
from mlapp.sample_data import generate
from mlapp.spellings import TRUE_FALSE_HINT
from mlapp.stages import validate
from tests.conftest import REPO
from tests.pipeline.task_tables import params_for, table

PARAMS = load_params(REPO / "params.yaml")
TIMES = {
    "ns": pd.Series(pd.date_range("2024-03-20", periods=300, freq="h", unit="ns")),
    "us": pd.Series(pd.date_range("2024-03-20", periods=300, freq="h", unit="us")),
    "zoned": pd.Series(pd.date_range("2024-03-20", periods=300, freq="h", tz="Europe/Berlin")),
    "duration": pd.Series(pd.to_timedelta(range(300), unit="D")),
}


@pytest.mark.parametrize("kind", sorted(TIMES))
def test_a_typed_time_is_drafted_as_a_date_not_a_count_of_its_unit(kind: str) -> None:
    """A Parquet timestamp was drafted _number(int, 1_710_892_800_000_000, ...): its count of
    microseconds (nanoseconds from another writer, 1000x more), learnt as a quantity."""
    drafted = schema_draft.feature("signed_up", TIMES[kind], ".")
    assert drafted.call == "" and "derive numbers from it" in drafted.skip, drafted


@pytest.mark.parametrize("kind", sorted(TIMES))
def test_a_typed_time_where_the_schema_wants_a_number_is_refused_with_its_values(
    kind: str, tmp_path: Path
) -> None:
    """validate read such a column as its count of the writer's unit (the same day 1000x apart
    in two files) and, when a rule failed, stopped on a Timestamp its report could not hold."""
    frame = generate(300, 5).assign(tenure_months=TIMES[kind])
    frame.to_parquet(source := tmp_path / "raw.parquet", index=False)
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"

    assert validate.run(PARAMS, source=source, output=out, report=report) == 1

    (problem,) = read_json(report)["problems"]
    assert problem["column"] == "tenure_months" and problem["rows"] == [0, 1, 2, 3, 4]
    assert problem["check"].startswith("parse as int64 (times, typed as such in the file"), problem
    assert problem["values"][0] == str(TIMES[kind][0])
    assert not out.exists()


NESTED = {
    "list": pa.array([["a", "b"][: i % 3] for i in range(300)], pa.list_(pa.string())),
    "record": pa.array(
        [{"a": i, "b": "x"} for i in range(300)], pa.struct([("a", pa.int64()), ("b", pa.string())])
    ),
    "bytes": pa.array([bytes([i % 256]) for i in range(300)], pa.binary()),
}


@pytest.mark.parametrize("kind", sorted(NESTED))
def test_a_nested_or_binary_column_is_named_not_drafted_or_crashed_on(kind: str, tmp_path: Path) -> None:
    """A Parquet list was drafted as the category "['a' 'b']" and then stopped validate with
    "unhashable type: 'numpy.ndarray'"; bytes stopped the draft with a UnicodeDecodeError."""
    table = pa.Table.from_pandas(generate(300, 5), preserve_index=False)
    table = table.set_column(table.schema.get_field_index("region"), "region", NESTED[kind])
    table = table.replace_schema_metadata(None)  # as another writer's: no pandas dtype recorded
    pq.write_table(table, source := tmp_path / "raw.parquet")
    frame, _ = schema_draft.read(source, PARAMS.data, 1_000)
    drafted = schema_draft.feature("region", frame["region"], ".")
    assert drafted.call == "" and drafted.skip.startswith("lists, records or bytes: flatten them"), drafted
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"

    assert validate.run(PARAMS, source=source, output=out, report=report) == 1

    (problem,) = read_json(report)["problems"]
    assert (
        problem["column"] == "region" and "(lists, records or bytes, typed so in the file" in problem["check"]
    )
    assert len(problem["values"]) == min(5, len(set(map(str, NESTED[kind].to_pylist()))))


def test_whole_numbers_with_a_gap_are_drafted_as_their_csv_text_is(tmp_path: Path) -> None:
    """Another writer's int64 columns with a null: the draft read them whole as float64 (validate
    reads ints), so 2**53 + 1, an account number's 16 digits in a CSV, was drafted as a number
    bounded by 9_007_199_254_740_992."""
    gap = [None]
    frame = pd.DataFrame({
        "visits": pd.array([i % 37 for i in range(299)] + gap, dtype="Int64"),
        "account": pd.array([2**53 + 1 + i % 7 for i in range(299)] + gap, dtype="Int64"),
        "churned": [i % 2 for i in range(300)],
    })  # fmt: skip
    stored = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(stored, parquet := tmp_path / "raw.parquet")
    frame.to_csv(csv := tmp_path / "raw.csv", index=False)
    data = PARAMS.data.model_copy(update={"id_column": None, "time_column": None})
    parquet_draft, csv_draft = (
        schema_draft.draft(schema_draft.read(path, data, 1_000)[0], data, PARAMS.validate_)
        for path in (parquet, csv)
    )
    assert parquet_draft == csv_draft
    assert parquet_draft[0].call == "_number(int, 0, 80" and parquet_draft[1].call == "_category("


LABEL_TIMES = {"date": [datetime.date(2024, 3, 20) + datetime.timedelta(days=i) for i in range(300)], **TIMES}


@pytest.mark.parametrize("kind", sorted(LABEL_TIMES))
def test_a_typed_time_as_a_regression_label_is_told_what_a_label_needs(kind: str, tmp_path: Path) -> None:
    """A label of times was told to go in data.ignore_columns, which leaves out features, never the
    label: validate and a monitored batch say to make it a number in the export, or choose another."""
    params = params_for(PARAMS, "regression")
    frame = table("regression", 300).assign(churned=LABEL_TIMES[kind])
    frame.to_parquet(source := tmp_path / "raw.parquet", index=False)
    assert (
        validate.run(params, source=source, output=tmp_path / "out.parquet", report=tmp_path / "r.json") == 1
    )
    (problem,) = read_json(tmp_path / "r.json")["problems"]
    with pytest.raises(InvalidBatch) as caught:
        batch.validate_batch(pd.read_parquet(source), params, "batch.parquet")
    for said in (problem["check"], caught.value.problems[0].check):
        assert said.startswith("parse as float64 (times, typed as such in the file: the label is a number;")
        assert "ignore_columns" not in said and "choose another data.label" in said


# A yes/no where FEATURES says number: num_products (int) and discount_pct (float).
YES_NO = {
    "bool": lambda: pd.Series([i % 2 == 0 for i in range(300)]),
    "bool with a gap": lambda: pd.Series([None, *(i % 3 == 0 for i in range(299))], dtype="boolean"),
}


def refused(values: pd.Series, problems: list[Problem]) -> None:
    """Each yes/no of ``values`` refused in both number columns, with the hint, by row."""
    flagged = [row for row, value in values.items() if isinstance(value, bool | np.bool_)]
    for said, name, kind in zip(
        problems, ("num_products", "discount_pct"), ("int64", "float64"), strict=True
    ):
        assert said.column == name and said.rows == flagged[:5] and said.count == len(flagged)
        assert said.check == f"parse as {kind}{TRUE_FALSE_HINT}"


@pytest.mark.parametrize("kind", YES_NO)
@pytest.mark.parametrize("decimal", [".", ","])
def test_a_parquet_boolean_where_the_schema_says_number_is_refused_as_the_service_refuses_it(
    kind: str, decimal: str, tmp_path: Path
) -> None:
    """A Parquet boolean in a number column was read as 1 and 0 (validated and scored; a failed
    range said "e.g. [0]"). The service refuses true for a number: so do validate and the monitor
    now, whatever data.decimal says."""
    params = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"decimal": decimal})})
    values = YES_NO[kind]()
    generate(300, 5).assign(num_products=values, discount_pct=values).to_parquet(
        source := tmp_path / "raw.parquet"
    )
    assert validate.run(params, source=source, output=tmp_path / "o.parquet", report=tmp_path / "r.json") == 1
    refused(values, [Problem(**p) for p in read_json(tmp_path / "r.json")["problems"]])
    with pytest.raises(InvalidBatch) as caught:
        batch.validate_batch(pd.read_parquet(source), params, "batch.parquet")
    refused(values, caught.value.problems)


def test_a_logs_json_true_for_a_number_is_refused_as_the_service_refuses_it() -> None:
    """A prediction log's features are as JSON typed them (objects): true among numbers was 1."""
    values = pd.Series([True if i % 5 == 3 else i % 4 + 1 for i in range(300)], dtype=object)
    frame = generate(300, 5).astype(object).assign(num_products=values, discount_pct=values)
    with pytest.raises(InvalidBatch) as caught:
        batch.validate_batch(frame, PARAMS, "log.jsonl")
    refused(values, caught.value.problems)


def test_a_yes_no_column_is_drafted_as_one_never_as_a_number(tmp_path: Path) -> None:
    """The draft checks yes/no before numbers: a Parquet boolean (1 and 0 to pandas) is a bool."""
    frame = pd.DataFrame({name: make() for name, make in YES_NO.items()}).assign(churned=0)
    frame.to_parquet(source := tmp_path / "raw.parquet", index=False)
    read, _ = schema_draft.read(source, PARAMS.data, 1_000)
    drafted = [schema_draft.feature(name, read[name], ".") for name in YES_NO]
    assert [f.call for f in drafted] == ["pa.Column(bool", 'pa.Column("boolean"']


def test_a_yes_no_regression_label_is_told_it_is_a_class_not_to_declare_a_feature(tmp_path: Path) -> None:
    """Read as 1 and 0, a boolean label was learnt as a regression's numbers; refused, it is told
    the task's fix (validate's for a text label), not a feature's (FEATURES)."""
    frame = table("regression", 300).assign(churned=[i % 2 == 0 for i in range(300)])
    frame.to_parquet(source := tmp_path / "raw.parquet", index=False)
    params = params_for(PARAMS, "regression")
    assert validate.run(params, source=source, output=tmp_path / "o.parquet", report=tmp_path / "r.json") == 1
    (problem,) = read_json(tmp_path / "r.json")["problems"]
    assert problem["check"] == "parse as float64 (a text label is a class: set task: binary or multiclass)"
